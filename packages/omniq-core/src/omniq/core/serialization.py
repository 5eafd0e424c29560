"""Encoding of task arguments and results: msgspec (msgpack) always, dill only when allowed.

Every stored value travels with a format tag, so a reader never guesses. dill can run arbitrary code
when loading, so it is off unless the application enables it, and then every dill payload is signed
with HMAC-SHA256 under the application's secret: an unsigned or altered payload is refused before
dill sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import msgspec

from omniq.core.errors import ConfigurationError, SerializationError

__all__ = ["DILL", "MSGPACK", "SerializationManager"]

MSGPACK = "msgpack"
DILL = "dill"

_SIGNATURE_SIZE = hashlib.sha256().digest_size
_UNSUPPORTED_TYPE = re.compile(r"type '?([\w.<>]+)'?")


class SerializationManager:
    """Turns values into ``(format, bytes)`` and back.

    Args:
        allow_dill: encode what msgspec cannot with dill, and accept dill payloads.
        secret_key: the HMAC key that signs dill payloads; required when ``allow_dill`` is set.
    """

    def __init__(self, *, allow_dill: bool = False, secret_key: str | bytes | None = None) -> None:
        if allow_dill and not secret_key:
            raise ConfigurationError(
                "allow_dill needs secret_key (OMNIQ_SECRET_KEY): dill payloads are signed with it"
            )
        self.allow_dill = allow_dill
        self._key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder()

    def dumps(self, value: Any) -> tuple[str, bytes]:
        """Encode ``value``; raises :class:`SerializationError` naming a type that cannot be encoded."""
        try:
            return MSGPACK, self._encoder.encode(value)
        except (TypeError, OverflowError, ValueError, RecursionError) as exc:
            if not self.allow_dill:
                raise SerializationError(
                    f"cannot encode {_what_failed(exc)}: msgspec supports plain data (numbers "
                    "within 64 bits, strings, bytes, lists, dicts, datetimes, dataclasses, "
                    "Structs); pass plain data, or enable dill with allow_dill=True and a secret_key"
                ) from exc
        try:
            return DILL, self._sign(_dill().dumps(value))
        except ConfigurationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot encode a value of type {type(value).__name__} with dill: {exc}"
            ) from exc

    def loads(self, fmt: str, data: bytes) -> Any:
        """Decode a value stored with format tag ``fmt``."""
        if fmt == MSGPACK:
            try:
                return self._decoder.decode(data)
            except msgspec.DecodeError as exc:
                raise SerializationError(f"corrupt msgpack payload: {exc}") from exc
        if fmt == DILL:
            if not self.allow_dill:
                raise SerializationError("refusing a dill payload: dill is disabled (allow_dill=False)")
            payload = self._verified(data)
            try:
                return _dill().loads(payload)
            except ConfigurationError:
                raise
            except Exception as exc:
                raise SerializationError(f"corrupt dill payload: {type(exc).__name__}: {exc}") from exc
        raise SerializationError(f"unknown payload format {fmt!r}")

    def _sign(self, payload: bytes) -> bytes:
        assert self._key is not None
        return hmac.digest(self._key, payload, "sha256") + payload

    def _verified(self, data: bytes) -> bytes:
        assert self._key is not None
        signature, payload = data[:_SIGNATURE_SIZE], data[_SIGNATURE_SIZE:]
        if len(signature) < _SIGNATURE_SIZE or not hmac.compare_digest(
            signature, hmac.digest(self._key, payload, "sha256")
        ):
            raise SerializationError("refusing a dill payload whose signature does not match")
        return payload


def _what_failed(exc: Exception) -> str:
    """The part of a msgspec error a user can act on: the type it refused, or what went wrong."""
    if isinstance(exc, TypeError):
        match = _UNSUPPORTED_TYPE.search(str(exc))
        return f"a value of type {match.group(1) if match else exc}"
    if isinstance(exc, RecursionError):
        return "a value nested too deeply (or containing itself)"
    return f"a value ({type(exc).__name__}: {exc})"


def _dill() -> Any:
    try:
        import dill  # noqa: PLC0415 - optional, loaded on demand
    except ModuleNotFoundError as exc:
        if exc.name != "dill":
            raise
        raise ConfigurationError("allow_dill needs dill: pip install omniq-core[dill]") from exc
    return dill
