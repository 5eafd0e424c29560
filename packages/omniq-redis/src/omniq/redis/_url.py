"""``redis://``, ``rediss://`` and ``unix://`` URIs: where the server is, and OmniQ's own options.

OmniQ's options (``prefix``, ``events_maxlen``) are taken out of the query string; everything else
(``socket_timeout``, ``health_check_interval``, TLS settings, ...) is handed to redis-py unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import msgspec

from omniq.core.backend_options import ServerConfig
from omniq.core.errors import ConfigurationError
from omniq.core.urls import mask_url, split_url

__all__ = [
    "DEFAULT_EVENTS_MAXLEN",
    "DEFAULT_PREFIX",
    "DEFAULT_URL",
    "RedisConfig",
    "RedisOptions",
    "parse_url",
]

DEFAULT_PREFIX = "omniq"
#: About how many events the stream keeps (``XADD ... MAXLEN ~``) before the oldest are trimmed.
DEFAULT_EVENTS_MAXLEN = 1_000_000

#: The server a bare ``RedisBackend()`` connects to.
DEFAULT_URL = "redis://localhost:6379/0"


_SCHEMES = ("redis", "rediss", "unix")
_EXAMPLES = (
    "use 'redis://[user:password@]host[:port][/db]', 'rediss://...' for TLS or "
    "'unix:///path/to/redis.sock?db=0', optionally with '?prefix=myproject'"
)
# Braces would break the hash tag that keeps one project's keys in one cluster slot.
_PREFIX = re.compile(r"^[^{}\s]+$")


class RedisOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """OmniQ's options for a Redis URI (its query string or keyword options)."""

    prefix: str = DEFAULT_PREFIX
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN


class RedisConfig(ServerConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a ``{type: redis, config: ...}`` section may set: the server, as a ``url`` or as
    ``host``, ``port``, ``username``, ``password`` and ``db``, and OmniQ's options."""

    scheme: ClassVar[str] = "redis"
    default_url: ClassVar[str] = DEFAULT_URL
    database_key: ClassVar[str] = "db"

    db: int | None = None
    prefix: str = DEFAULT_PREFIX
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN

    def options(self) -> dict[str, Any]:
        """The keyword options of :class:`~omniq.redis.RedisBackend` besides the URI."""
        return {"prefix": self.prefix, "events_maxlen": self.events_maxlen}


def parse_url(url: str, options: Mapping[str, Any]) -> tuple[str, RedisOptions]:
    """The URL to hand to redis-py (without OmniQ's options) and OmniQ's options.

    ``options`` win over the query string.

    Raises:
        ConfigurationError: naming ``url`` (password masked) when its scheme, port, database or an
            option is invalid.
    """
    shown = mask_url(url)
    parts = split_url(url, "Redis", _EXAMPLES)
    port = parts.port
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"{shown!r} is not a Redis URI: {_EXAMPLES}")
    if scheme == "unix":
        if not parts.path or parts.path.endswith("/"):
            raise ConfigurationError(f"Redis URI {shown!r} names no socket path: {_EXAMPLES}")
    else:
        _check_database(parts.path, shown)
        if port == 0:
            raise ConfigurationError(f"Redis URI {shown!r} has port 0: {_EXAMPLES}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in RedisOptions.__struct_fields__}
    theirs = [(key, value) for key, value in query if key not in RedisOptions.__struct_fields__]
    ours.update(options)
    try:
        parsed = msgspec.convert(ours, RedisOptions, strict=False)
    except msgspec.ValidationError as exc:
        known = ", ".join(RedisOptions.__struct_fields__)
        raise ConfigurationError(
            f"invalid option for Redis URI {shown!r}: {exc} (OmniQ's options: {known})"
        ) from None
    if not _PREFIX.match(parsed.prefix):
        raise ConfigurationError(
            f"prefix {parsed.prefix!r} of Redis URI {shown!r} must be non-empty, without spaces or braces"
        )
    if parsed.events_maxlen < 1:
        raise ConfigurationError(f"events_maxlen of Redis URI {shown!r} must be at least 1")
    # Built by hand: urlunsplit would drop the "//" of "unix:///path" (no host).
    client_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if theirs:
        client_url += f"?{urlencode(theirs)}"
    return client_url, parsed


def _check_database(path: str, shown: str) -> None:
    database = path.strip("/")
    if database and not database.isdigit():
        raise ConfigurationError(
            f"Redis URI {shown!r}: the path must be a database number, got {database!r}; {_EXAMPLES}"
        )
