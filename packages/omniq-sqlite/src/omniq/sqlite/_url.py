"""``sqlite:///path`` URIs: where the database file lives and how long to wait for its lock."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.urls import mask_url

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "SQLiteConfig", "SQLiteOptions", "parse_url"]

#: How long a writer waits for another process's write lock before giving up (milliseconds).
DEFAULT_BUSY_TIMEOUT_MS = 30_000

_EXAMPLES = "use 'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db'"


class SQLiteOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a URI (its query string) or keyword options may set."""

    busy_timeout: int = DEFAULT_BUSY_TIMEOUT_MS


class SQLiteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a ``{type: sqlite, config: ...}`` section may set; unset paths follow the settings."""

    #: The database file; by default ``<base_dir>/<project_name>.db``.
    path: str | None = None
    base_dir: str | None = None
    project_name: str | None = None
    busy_timeout: int = DEFAULT_BUSY_TIMEOUT_MS

    def __post_init__(self) -> None:
        if self.busy_timeout < 0:
            raise ValueError(f"busy_timeout must be zero or more milliseconds, got {self.busy_timeout}")


def parse_url(url: str, options: Mapping[str, Any]) -> tuple[Path, SQLiteOptions]:
    """The database path and options of ``url``; ``options`` win over the query string.

    Raises:
        ConfigurationError: naming ``url`` when it has no path, names an in-memory database (which
            other processes cannot share), has a host, or sets an unknown or invalid option.
    """
    shown = mask_url(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise ConfigurationError(f"{shown!r} is not an SQLite URI: {_EXAMPLES}")
    # urlsplit keeps the slash that separates the (empty) host from the path: "/rel.db", "//abs.db".
    path = unquote(parts.path[1:])
    if ":memory:" in (path, parts.netloc):
        raise ConfigurationError(
            f"SQLite URI {shown!r} names an in-memory database, which worker processes cannot share; "
            f"{_EXAMPLES}, or 'memory://name' for a store inside one process"
        )
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite URI {shown!r} names a host ({parts.hostname!r}); SQLite opens a local file: {_EXAMPLES}"
        )
    if not path or path.endswith("/"):
        raise ConfigurationError(f"SQLite URI {shown!r} names no database file: {_EXAMPLES}")
    merged: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged.update(options)
    try:
        parsed = msgspec.convert(merged, SQLiteOptions, strict=False)
    except msgspec.ValidationError as exc:
        known = ", ".join(SQLiteOptions.__struct_fields__)
        raise ConfigurationError(
            f"invalid option for SQLite URI {shown!r}: {exc} (known options: {known})"
        ) from exc
    if parsed.busy_timeout < 0:
        raise ConfigurationError(
            f"busy_timeout of SQLite URI {shown!r} must be zero or more milliseconds, "
            f"got {parsed.busy_timeout}"
        )
    return Path(path), parsed
