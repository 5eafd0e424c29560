"""``postgresql://`` URIs: the server to connect to, and the few options that are OmniQ's own.

OmniQ's options (``schema``, pool sizes, connect timeout) are taken out of the query string; every
other query parameter goes to asyncpg untouched (``sslmode``, or a server setting such as
``application_name``), so a DSN that works with asyncpg works here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlunsplit

import msgspec

from omniq.core.backend_options import ServerConfig
from omniq.core.errors import ConfigurationError
from omniq.core.urls import mask_url, split_url

__all__ = [
    "DEFAULT_SCHEMA",
    "DEFAULT_URL",
    "PostgresConfig",
    "PostgresOptions",
    "PostgresTarget",
    "parse_url",
]

#: The schema holding OmniQ's tables unless the URI says ``?schema=...``.
DEFAULT_SCHEMA = "omniq"

#: The server a bare ``PostgresBackend()`` connects to.
DEFAULT_URL = "postgresql://localhost/postgres"


_SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "for example 'postgresql://user:password@localhost:5432/app?schema=omniq'"
# Lower-case so that the name needs no quoting anywhere (SQL, LISTEN channels, logs); 63 bytes is
# PostgreSQL's identifier limit, minus room for the suffixes of index and channel names.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")


class PostgresOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the query string or keyword options may set for OmniQ itself."""

    schema: str = DEFAULT_SCHEMA
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout: float = 10.0


class PostgresConfig(ServerConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a ``{type: postgres, config: ...}`` section may set: the server, as a ``url`` or as
    ``host``, ``port``, ``username``, ``password`` and ``database``, and OmniQ's options."""

    scheme: ClassVar[str] = "postgresql"
    default_url: ClassVar[str] = DEFAULT_URL
    database_key: ClassVar[str] = "database"

    database: str | None = None
    schema: str = DEFAULT_SCHEMA
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout: float = 10.0

    def options(self) -> dict[str, Any]:
        """The keyword options of :class:`~omniq.postgres.PostgresBackend` besides the server."""
        return {name: getattr(self, name) for name in PostgresOptions.__struct_fields__}


class PostgresTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where to connect: the DSN for asyncpg (OmniQ's options removed) and how to name it."""

    dsn: str
    host: str
    port: int
    database: str
    shown: str
    #: The query parameters passed on to asyncpg (they override OmniQ's default server settings).
    query_keys: frozenset[str] = frozenset()


def parse_url(url: str, options: Mapping[str, Any]) -> tuple[PostgresTarget, PostgresOptions]:
    """The connection target and OmniQ's options of ``url``; ``options`` win over the query string.

    Raises:
        ConfigurationError: naming ``url`` (password masked) when its scheme is not PostgreSQL's,
            it has a fragment, or it sets an invalid OmniQ option.
    """
    shown = mask_url(url)
    parts = split_url(url, "PostgreSQL", _EXAMPLE)
    port = parts.port or 5432
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigurationError(f"{shown!r} is not a PostgreSQL URI: {_EXAMPLE}")
    if parts.fragment:
        raise ConfigurationError(f"PostgreSQL URI {shown!r} has a fragment ('#...'): {_EXAMPLE}")
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in PostgresOptions.__struct_fields__:
            ours[key] = value
        else:
            theirs.append((key, value))
    ours.update(options)
    try:
        parsed = msgspec.convert(ours, PostgresOptions, strict=False)
    except msgspec.ValidationError as exc:
        known = ", ".join(PostgresOptions.__struct_fields__)
        raise ConfigurationError(
            f"invalid option for PostgreSQL URI {shown!r}: {exc} (OmniQ's options: {known})"
        ) from exc
    _check(parsed, shown)
    database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or "(the user's)"
    dsn = urlunsplit((parts.scheme, _escaped_netloc(parts.netloc), parts.path, urlencode(theirs), ""))
    target = PostgresTarget(
        dsn=dsn,
        host=parts.hostname or "localhost",
        port=port,
        database=database,
        shown=mask_url(dsn),
        query_keys=frozenset(key for key, _ in theirs),
    )
    return target, parsed


def _escaped_netloc(netloc: str) -> str:
    """``netloc`` with its user and password percent-encoded: asyncpg splits the user part at the
    first ``@``, so an unescaped ``@`` in a password would become part of the host."""
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, password = userinfo.partition(":")
    return f"{quote(unquote(user), safe='')}{colon}{quote(unquote(password), safe='')}@{host}"


def _check(parsed: PostgresOptions, shown: str) -> None:
    if not _SCHEMA_NAME.match(parsed.schema):
        raise ConfigurationError(
            f"schema {parsed.schema!r} of PostgreSQL URI {shown!r} must be a lower-case name of letters, "
            "digits and underscores, starting with a letter or underscore, at most 40 characters"
        )
    if not 0 <= parsed.pool_min_size <= parsed.pool_max_size or parsed.pool_max_size < 1:
        raise ConfigurationError(
            f"pool sizes of PostgreSQL URI {shown!r} must satisfy 0 <= pool_min_size <= pool_max_size "
            f"and pool_max_size >= 1, got {parsed.pool_min_size} and {parsed.pool_max_size}"
        )
    if parsed.connect_timeout <= 0:
        raise ConfigurationError(
            f"connect_timeout of PostgreSQL URI {shown!r} must be a positive number of seconds, "
            f"got {parsed.connect_timeout}"
        )
