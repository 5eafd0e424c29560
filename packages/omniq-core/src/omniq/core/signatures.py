"""Checking a call's arguments against the task function's signature at enqueue.

A producer that has the function can tell at once that ``add.enqueue(1, 2, 3)`` or
``enqueue(add, {"a": 1, "zz": 2})`` cannot run: raising then, to the caller, beats a task that fails
on a worker and is retried into ``dead``. Functions known only by name (not registered here, not
importable without running their module) are not checked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from omniq.core.errors import ValidationError

__all__ = ["check_call", "check_keyword_calls"]


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None


def check_call(func: Callable[..., Any], name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`ValidationError` (field ``func_args``) if ``func`` cannot take these arguments."""
    signature = _signature(func)
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ValidationError("func_args", f"{name} cannot be called with these arguments: {exc}") from None


def check_keyword_calls(func: Callable[..., Any], name: str, calls: Iterable[Mapping[str, Any]]) -> None:
    """:func:`check_call` for many keyword-only calls, binding each distinct set of names once."""
    seen: set[frozenset[str]] = set()
    for kwargs in calls:
        names = frozenset(kwargs)
        if names not in seen:
            seen.add(names)
            check_call(func, name, (), dict.fromkeys(names))
