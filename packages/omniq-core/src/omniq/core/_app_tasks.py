"""The application's producer side: task functions, callbacks, and enqueueing calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, Protocol, TypedDict, TypeVar, Unpack, cast, overload

from omniq.core._app_base import AppBase, TaskRef
from omniq.core.callbacks import CallbackKind, CallbackRef, TaskOutcome, callback_names
from omniq.core.codec import task_from_record
from omniq.core.models import EventType, Task
from omniq.core.options import (
    EnqueueManyOptions,
    EnqueueOptions,
    Seconds,
    TaskOptions,
    checked_id,
    task_options,
)
from omniq.core.records import TaskRecord, events_about
from omniq.core.signatures import check_call, check_keyword_calls
from omniq.core.task_function import AsyncTaskFunction
from omniq.core.worker._outcomes import task_event

__all__ = ["AppTasks", "TaskDefaults"]

P = ParamSpec("P")
R = TypeVar("R")
Q = ParamSpec("Q")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[[TaskOutcome], Any])


class TaskDefaults(TypedDict, total=False):
    """The keyword arguments of ``task``: a task's name and the defaults of its enqueues."""

    name: str | None
    queue: str | None
    priority: int | None
    max_retries: int | None
    retry_delay: Seconds | None
    retry_on: Sequence[type[BaseException] | str] | None
    timeout: Seconds | None
    ttl: Seconds | None
    result_ttl: Seconds | None
    on_success: CallbackRef | None
    on_failure: CallbackRef | None
    on_retry: CallbackRef | None
    on_dead: CallbackRef | None


class _AsyncTaskDecorator(Protocol):
    def __call__(self, func: Callable[Q, T], /) -> AsyncTaskFunction[Q, T]: ...


def default_options(defaults: TaskDefaults) -> TaskOptions:
    """The enqueue options ``task(**defaults)`` gives a function (an unknown keyword is the
    ``TypeError`` of an unexpected argument)."""
    known = TaskDefaults.__optional_keys__
    for key in defaults:
        if key not in known:
            raise TypeError(f"task() got an unexpected keyword argument {key!r}")
    return TaskOptions(
        queue_name=defaults.get("queue"),
        priority=defaults.get("priority"),
        max_retries=defaults.get("max_retries"),
        retry_delay=defaults.get("retry_delay"),
        retry_on=defaults.get("retry_on"),
        timeout=defaults.get("timeout"),
        ttl=defaults.get("ttl"),
        result_ttl=defaults.get("result_ttl"),
        callbacks=callback_names(
            success=defaults.get("on_success"),
            failure=defaults.get("on_failure"),
            retry=defaults.get("on_retry"),
            dead=defaults.get("on_dead"),
        ),
    )


class AppTasks(AppBase):
    """Declaring tasks and callbacks, and queueing calls."""

    @overload
    def task(self, func: Callable[P, R], /) -> AsyncTaskFunction[P, R]: ...

    @overload
    def task(self, **defaults: Unpack[TaskDefaults]) -> _AsyncTaskDecorator: ...

    def task(
        self, func: Callable[P, R] | None = None, **defaults: Unpack[TaskDefaults]
    ) -> AsyncTaskFunction[P, R] | _AsyncTaskDecorator:
        """Make ``func`` a task with default enqueue options; usable with or without arguments.

        ``on_success``, ``on_failure``, ``on_retry`` and ``on_dead`` take a module-level function
        (or its import path, or a list of them) called with a :class:`~omniq.core.TaskOutcome`
        after that outcome is stored; see :mod:`omniq.core.callbacks`.
        """
        options = default_options(defaults)
        name = defaults.get("name")

        def decorate(function: Callable[Q, T]) -> AsyncTaskFunction[Q, T]:
            wrapped = AsyncTaskFunction(self, function, name, options)
            self.functions.register(wrapped.task_name, function)
            return wrapped

        return decorate if func is None else decorate(func)

    @overload
    def on(self, kind: CallbackKind, func: None = None) -> Callable[[F], F]: ...

    @overload
    def on(self, kind: CallbackKind, func: F) -> F: ...

    def on(self, kind: CallbackKind, func: F | None = None) -> F | Callable[[F], F]:
        """Call ``func(outcome)`` for every task's ``kind`` outcome (``success``, ``failure``,
        ``retry``, ``dead``) in this application's workers; usable as ``@oq.on("dead")``.

        ``outcome`` is a :class:`~omniq.core.TaskOutcome`. The callback runs after the outcome is
        stored and cannot change it; if it raises, the error is logged and recorded as a
        ``callback_error`` event.
        """

        def register(callback: F) -> F:
            self.callbacks.add(kind, callback)
            return callback

        return register if func is None else register(func)

    async def enqueue(
        self,
        func: TaskRef,
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        **options: Unpack[EnqueueOptions],
    ) -> str:
        """Queue one call of ``func`` (a function, a ``@task`` or a registered name); returns its id.

        Options (``queue_name``, ``priority``, ``run_in``/``run_at``, ``ttl``, ``result_ttl``,
        ``timeout``, ``max_retries``, ``retry_delay``, ``retry_on``) default to the task's and
        then the settings'. With ``depends_on``, the task waits until every task named has
        completed; if one ends dead, cancelled or expired, this one is cancelled too. With
        ``dedup_key``, if a task holding that key is still pending or running, its id is returned
        and nothing new is queued.
        """
        factory = self._factory(func, task_options("enqueue", options, EnqueueOptions))
        kwargs = dict(func_args or {})
        target = self._local_function(func, factory.func)
        if target is not None:
            check_call(target, factory.func, args, kwargs)
        record = factory.record(*self.serializer.dumps([list(args), kwargs]))
        return (await self._store([record]))[0]

    async def enqueue_many(
        self,
        func: TaskRef,
        func_args: Iterable[Mapping[str, Any]],
        **options: Unpack[EnqueueManyOptions],
    ) -> list[str]:
        """Queue one call of ``func`` per mapping of keyword arguments, in one round trip (each
        waiting on every task in ``depends_on``, if given); options as :meth:`enqueue`'s."""
        factory = self._factory(func, task_options("enqueue_many", options, EnqueueManyOptions))
        calls = [dict(kwargs) for kwargs in func_args]
        target = self._local_function(func, factory.func)
        if target is not None:
            check_keyword_calls(target, factory.func, calls)
        dumps = self.serializer.dumps
        records = [factory.record(*dumps([[], kwargs])) for kwargs in calls]
        return await self._store(records) if records else []

    async def get_task(self, task_id: str) -> Task | None:
        """The task with this id, or ``None``."""
        await self.open()
        record = await self.task_queue.get_task(checked_id(task_id))
        return None if record is None else task_from_record(record)

    def _local_function(self, func: TaskRef, name: str) -> Callable[..., Any] | None:
        """The function a call will run, if this process has it without importing anything: the
        callable given, or a function registered under ``name``."""
        if callable(func):
            return cast(Callable[..., Any], getattr(func, "__omniq_function__", func))
        return self.functions.registered(name)

    async def _store(self, records: list[TaskRecord]) -> list[str]:
        await self.open()
        if not self.recorder.enabled:
            return await self.task_queue.enqueue(records)
        now = time.time()
        events = [task_event(record, EventType.ENQUEUED, now) for record in records]
        if self.recorder.travels_with(self.task_queue):  # stored with the tasks they are about
            return await self.task_queue.enqueue(records, events=events)
        ids = await self.task_queue.enqueue(records)
        self.recorder.record_many(events_about(events, set(ids)))
        return ids
