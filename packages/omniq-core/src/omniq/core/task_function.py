"""``@oq.task``: a function that stays callable and gains a typed ``.enqueue``.

A task function knows its application only as "something that enqueues" (the protocols below), so
this module imports neither the application nor its blocking twin: they import it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, Unpack

from omniq.core.functions import function_name
from omniq.core.options import EnqueueOptions, TaskOptions

__all__ = ["AsyncEnqueuer", "AsyncTaskFunction", "Enqueuer", "TaskFunction"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncEnqueuer(Protocol):
    """What an async task function needs of its application (:class:`~omniq.core.AsyncOmniQ`)."""

    def enqueue(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        **options: Unpack[EnqueueOptions],
    ) -> Awaitable[str]:
        """Queue one call of ``func``; its task id."""


class Enqueuer(Protocol):
    """What a blocking task function needs of its application (:class:`~omniq.core.OmniQ`)."""

    def enqueue(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        **options: Unpack[EnqueueOptions],
    ) -> str:
        """Queue one call of ``func``; its task id."""


class _TaskFunctionBase(Generic[P, R]):
    """What both flavours share: the wrapped function, its task name and its default options."""

    def __init__(self, func: Callable[P, R], name: str | None, options: TaskOptions) -> None:
        self.__omniq_function__ = func
        self.task_name = name or function_name(func)
        self.default_options = options
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function directly, here and now."""
        return self.__omniq_function__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<task {self.task_name}>"


class AsyncTaskFunction(_TaskFunctionBase[P, R]):
    """A task function of an :class:`~omniq.core.AsyncOmniQ`; ``await f.enqueue(...)`` queues a call."""

    def __init__(
        self, app: AsyncEnqueuer, func: Callable[P, R], name: str | None, options: TaskOptions
    ) -> None:
        super().__init__(func, name, options)
        self._app = app

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[str]:
        """Queue a call with these arguments; returns the task id."""
        return self._app.enqueue(self, kwargs, args=args)

    def options(self, **options: Unpack[EnqueueOptions]) -> AsyncTaskFunction[P, R]:
        """The same task with some enqueue options changed (``queue_name``, ``priority``, ...)."""
        changed = dataclasses.replace(self.default_options, **options)
        return AsyncTaskFunction(self._app, self.__omniq_function__, self.task_name, changed)


class TaskFunction(_TaskFunctionBase[P, R]):
    """A task function of an :class:`~omniq.core.OmniQ`; ``f.enqueue(...)`` queues a call."""

    def __init__(self, app: Enqueuer, func: Callable[P, R], name: str | None, options: TaskOptions) -> None:
        super().__init__(func, name, options)
        self._app = app

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Queue a call with these arguments; returns the task id."""
        return self._app.enqueue(self, kwargs, args=args)

    def options(self, **options: Unpack[EnqueueOptions]) -> TaskFunction[P, R]:
        """The same task with some enqueue options changed (``queue_name``, ``priority``, ...)."""
        changed = dataclasses.replace(self.default_options, **options)
        return TaskFunction(self._app, self.__omniq_function__, self.task_name, changed)
