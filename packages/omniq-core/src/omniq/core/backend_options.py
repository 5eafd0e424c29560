"""Backend options from a ``{type: ..., config: {...}}`` section, validated by a msgspec Struct.

A backend declares its options once, as a Struct, and gets the same errors as every other setting:
the key, the value (secrets masked) and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.settings import check_keys, shown_value

__all__ = ["convert_options"]

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
