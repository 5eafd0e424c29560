"""Backend options from a ``{type: ..., config: {...}}`` section, validated by a msgspec Struct.

A backend declares its options once, as a Struct, and gets the same errors as every other setting:
the key, the value (secrets masked) and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.settings import check_keys, shown_value
from omniq.core.urls import build_url

__all__ = ["ServerConfig", "convert_options"]

S = TypeVar("S", bound=msgspec.Struct)


def convert_options(options: Mapping[str, Any], into: type[S], where: str) -> S:
    """``options`` as an ``into`` Struct; ``where`` names the section in errors (``task_queue.config``).

    Raises:
        ConfigurationError: an unknown key, a value of the wrong type or one ``into`` refuses.
    """
    check_keys(options, into.__struct_fields__, f"in {where}")
    try:
        return msgspec.convert(dict(options), into, strict=False)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `$.")
        key = at.rstrip("`").split(".")[0]
        if not key:
            raise ConfigurationError(f"invalid {where}: {message}") from exc
        expected = message.replace("`", "").replace("Expected ", "")
        value = shown_value(key, options.get(key))
        raise ConfigurationError(f"{where}.{key}={value!r} is invalid: expected {expected}") from exc


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The server of a ``{type: ..., config: ...}`` section: a ``url``, or ``host``, ``port``,
    ``username``, ``password`` and a database field a subclass adds (named by ``database_key``).

    A subclass sets ``scheme`` and ``default_url`` (the server when the section names none).
    """

    scheme: ClassVar[str]
    default_url: ClassVar[str]
    database_key: ClassVar[str]

    url: str | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None

    def server_url(self, where: str) -> str:
        """The server's URI: ``url``, or one built from the parts with user name and password
        percent-encoded (so they may hold any character), or ``default_url``.

        Raises:
            ConfigurationError: both ``url`` and parts are given; ``where`` names the section.
        """
        keys = ("host", "port", "username", "password", self.database_key)
        given = [key for key in keys if getattr(self, key) is not None]
        if self.url is not None:
            if given:
                raise ConfigurationError(
                    f"{where}: give url or {', '.join(keys)}, not both (got url and {', '.join(given)})"
                )
            return self.url
        if not given:
            return self.default_url
        database = getattr(self, self.database_key)
        return build_url(
            self.scheme,
            host=self.host or "localhost",
            port=self.port,
            username=self.username,
            password=self.password,
            path="" if database is None else str(database),
        )
