"""Task functions by name: ``module:qualname`` import paths or names registered by ``@oq.task``.

Functions are never pickled: a worker imports them by path, so a worker needs the same code as the
producer, and a stored task stays readable after a deploy. Which paths a worker may import is the
business of :mod:`omniq.core.function_policy`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from omniq.core.errors import UnknownFunctionError, ValidationError
from omniq.core.function_policy import FunctionPolicy

__all__ = ["FunctionRegistry", "function_name"]


def function_name(func: Callable[..., Any]) -> str:
    """The import path a worker will use to find ``func``."""
    registered = getattr(func, "task_name", None)
    if isinstance(registered, str):
        return registered
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise ValidationError("func", f"{func!r} has no importable name; pass a module-level function")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ValidationError(
            "func",
            f"{module}.{qualname} is defined inside a function or is a lambda, so a worker cannot "
            "import it; define it at module level",
        )
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
    return f"{module}:{qualname}"


class FunctionRegistry:
    """Functions a worker can run: registered names first, then import paths that ``policy``
    allows (cached).

    Args:
        policy: which import paths may be imported (default: the safe rule, no module named).
    """

    def __init__(self, policy: FunctionPolicy | None = None) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}
        self.policy = policy or FunctionPolicy()

    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Run ``func`` for tasks named ``name``."""
        self._functions[name] = func

    def registered(self, name: str) -> Callable[..., Any] | None:
        """The function registered (or already resolved) under ``name``, importing nothing."""
        return self._functions.get(name)

    def resolve(self, name: str) -> Callable[..., Any]:
        """The function for ``name``; :class:`UnknownFunctionError` says why it cannot be found."""
        func = self._functions.get(name)
        if func is None:
            func = _import(name, self.policy)
            self._functions[name] = func
        return func


def _import(name: str, policy: FunctionPolicy) -> Callable[..., Any]:
    module_name, sep, qualname = name.partition(":")
    if not sep or not qualname or not module_name:
        raise UnknownFunctionError(
            f"task function {name!r} is not registered with this worker and is not an import "
            "path 'module:qualname'"
        )
    policy.check(name, module_name)
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise UnknownFunctionError(
            f"task function {name!r} cannot be imported: {type(exc).__name__}: {exc}"
        ) from exc
    target = getattr(target, "__omniq_function__", target)  # a @task wrapper: run what it wraps
    if not callable(target):
        raise UnknownFunctionError(f"task function {name!r} is {type(target).__name__}, not callable")
    return target  # type: ignore[no-any-return]
