"""``OmniQ``: the blocking twin of :class:`~omniq.core.AsyncOmniQ`.

It holds one ``AsyncOmniQ`` and one loop thread for its whole life; each method hands the call to
that loop and waits. Signatures match the async class (a test compares them); docstrings are the
async class's.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, Literal, ParamSpec, Protocol, Self, TypeVar, Unpack, overload

from omniq.core._app_base import stores_repr
from omniq.core._app_tasks import TaskDefaults
from omniq.core._portal import LoopThread, twin_of
from omniq.core.app import (
    AsyncOmniQ,
    EventStoreRef,
    ResultStoreRef,
    TaskQueueRef,
    TaskRef,
)
from omniq.core.callbacks import CallbackKind, TaskOutcome
from omniq.core.config import OmniQConfig
from omniq.core.interfaces import BaseComponent
from omniq.core.models import EventType, Schedule, ScheduleStatus, Task, TaskEvent, TaskResult, TaskStatus
from omniq.core.options import EnqueueManyOptions, EnqueueOptions, RunOptions, Seconds
from omniq.core.settings import Settings
from omniq.core.sync_components import SyncEventStorage, SyncResultStorage, SyncTaskQueue
from omniq.core.task_function import TaskFunction

__all__ = ["OmniQ"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[[TaskOutcome], Any])
Q = ParamSpec("Q")
T = TypeVar("T")


_TWINS = (SyncTaskQueue, SyncResultStorage, SyncEventStorage)


class _TaskDecorator(Protocol):
    def __call__(self, func: Callable[Q, T], /) -> TaskFunction[Q, T]: ...


class OmniQ:
    """A task queue application with blocking methods; see :class:`~omniq.core.AsyncOmniQ`.

    ``with OmniQ("sqlite:///omniq.db") as oq:`` opens it and, on exit, stops its worker and closes
    its loop thread. Given blocking components (``SQLiteTaskQueue(...)``), it runs on their loop
    instead, so that they keep one loop, and leaves that loop running.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        task_queue: TaskQueueRef | None = None,
        result_store: ResultStoreRef | None = None,
        event_store: EventStoreRef | Literal[False] | None = None,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> None:
        aio = AsyncOmniQ(
            url,
            task_queue=task_queue,
            result_store=result_store,
            event_store=event_store,
            settings=settings,
            **overrides,
        )
        twins = [c for c in (task_queue, result_store, event_store) if isinstance(c, _TWINS)]
        self._adopt(aio, twins[0].portal if twins else None)

    def _adopt(self, aio: AsyncOmniQ, portal: LoopThread | None = None) -> None:
        self.aio = aio
        self.settings = aio.settings
        self._owns_portal = portal is None
        self._portal = portal or LoopThread()

    @classmethod
    def _around(cls, aio: AsyncOmniQ) -> Self:
        app = cls.__new__(cls)
        app._adopt(aio)
        return app

    def __repr__(self) -> str:
        return f"OmniQ({stores_repr(self.aio)})"

    @classmethod
    @twin_of(AsyncOmniQ.from_config)
    def from_config(cls, config: OmniQConfig, **overrides: Any) -> Self:
        return cls._around(AsyncOmniQ.from_config(config, **overrides))

    @classmethod
    @twin_of(AsyncOmniQ.from_dict)
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> Self:
        return cls._around(AsyncOmniQ.from_dict(data, **overrides))

    @classmethod
    @twin_of(AsyncOmniQ.from_config_file)
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        return cls._around(AsyncOmniQ.from_config_file(path, **overrides))

    @classmethod
    @twin_of(AsyncOmniQ.from_env)
    def from_env(cls, **overrides: Any) -> Self:
        return cls._around(AsyncOmniQ.from_env(**overrides))

    @classmethod
    @twin_of(AsyncOmniQ.from_backend)
    def from_backend(
        cls,
        backend: BaseComponent,
        *,
        result_store_backend: BaseComponent | None = None,
        event_store_backend: BaseComponent | Literal[False] | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Self:
        return cls._around(
            AsyncOmniQ.from_backend(
                backend,
                result_store_backend=result_store_backend,
                event_store_backend=event_store_backend,
                worker_type=worker_type,
                worker_config=worker_config,
                **overrides,
            )
        )

    @twin_of(AsyncOmniQ.open)
    def open(self) -> None:
        self._portal.call(self.aio.open)

    @twin_of(AsyncOmniQ.open_existing)
    def open_existing(self) -> None:
        self._portal.call(self.aio.open_existing)

    @twin_of(AsyncOmniQ.close)
    def close(self) -> None:
        if self._portal.started:
            self._portal.call(self.aio.close)
        if self._owns_portal:
            self._portal.stop()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @overload
    def task(self, func: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def task(self, **defaults: Unpack[TaskDefaults]) -> _TaskDecorator: ...

    @twin_of(AsyncOmniQ.task)
    def task(
        self, func: Callable[P, R] | None = None, **defaults: Unpack[TaskDefaults]
    ) -> TaskFunction[P, R] | _TaskDecorator:
        register = self.aio.task(**defaults)

        def decorate(function: Callable[Q, T]) -> TaskFunction[Q, T]:
            registered = register(function)
            return TaskFunction(self, function, registered.task_name, registered.default_options)

        return decorate if func is None else decorate(func)

    @overload
    def on(self, kind: CallbackKind, func: None = None) -> Callable[[F], F]: ...

    @overload
    def on(self, kind: CallbackKind, func: F) -> F: ...

    @twin_of(AsyncOmniQ.on)
    def on(self, kind: CallbackKind, func: F | None = None) -> F | Callable[[F], F]:
        return self.aio.on(kind, func) if func is not None else self.aio.on(kind)

    @twin_of(AsyncOmniQ.enqueue)
    def enqueue(
        self,
        func: TaskRef,
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        **options: Unpack[EnqueueOptions],
    ) -> str:
        return self._portal.call(self.aio.enqueue, func, func_args, args=args, **options)

    @twin_of(AsyncOmniQ.enqueue_many)
    def enqueue_many(
        self,
        func: TaskRef,
        func_args: Iterable[Mapping[str, Any]],
        **options: Unpack[EnqueueManyOptions],
    ) -> list[str]:
        return self._portal.call(self.aio.enqueue_many, func, func_args, **options)

    @twin_of(AsyncOmniQ.get_task)
    def get_task(self, task_id: str) -> Task | None:
        return self._portal.call(self.aio.get_task, task_id)

    @twin_of(AsyncOmniQ.list_tasks)
    def list_tasks(
        self, queue_name: str | None = None, status: TaskStatus | str | None = None, limit: int = 100
    ) -> list[Task]:
        return self._portal.call(self.aio.list_tasks, queue_name, status, limit)

    @twin_of(AsyncOmniQ.dead_letters)
    def dead_letters(self, queue_name: str | None = None, limit: int = 100) -> list[Task]:
        return self._portal.call(self.aio.dead_letters, queue_name, limit)

    @twin_of(AsyncOmniQ.purge_dead_letters)
    def purge_dead_letters(self, older_than: Seconds | None = None) -> int:
        return self._portal.call(self.aio.purge_dead_letters, older_than)

    @twin_of(AsyncOmniQ.purge_tasks)
    def purge_tasks(
        self,
        status: TaskStatus | str | Sequence[TaskStatus | str],
        older_than: Seconds | None = None,
    ) -> int:
        return self._portal.call(self.aio.purge_tasks, status, older_than)

    @twin_of(AsyncOmniQ.requeue)
    def requeue(self, task_id: str) -> bool:
        return self._portal.call(self.aio.requeue, task_id)

    @twin_of(AsyncOmniQ.cancel)
    def cancel(self, task_id: str) -> bool:
        return self._portal.call(self.aio.cancel, task_id)

    @twin_of(AsyncOmniQ.get_result)
    def get_result(
        self,
        task_id: str | None = None,
        *,
        schedule_id: str | None = None,
        kind: Literal["latest"] = "latest",
        timeout: float | None = None,
    ) -> TaskResult | None:
        return self._portal.call(
            self.aio.get_result, task_id, schedule_id=schedule_id, kind=kind, timeout=timeout
        )

    @twin_of(AsyncOmniQ.schedule)
    def schedule(
        self,
        func: TaskRef,
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        at: datetime | None = None,
        interval: Seconds | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        max_runs: int | None = None,
        **options: Unpack[RunOptions],
    ) -> str:
        return self._portal.call(
            self.aio.schedule,
            func,
            func_args,
            args=args,
            at=at,
            interval=interval,
            cron=cron,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            max_runs=max_runs,
            **options,
        )

    @twin_of(AsyncOmniQ.get_schedule)
    def get_schedule(self, schedule_id: str) -> Schedule | None:
        return self._portal.call(self.aio.get_schedule, schedule_id)

    @twin_of(AsyncOmniQ.list_schedules)
    def list_schedules(self, status: ScheduleStatus | str | None = None, limit: int = 100) -> list[Schedule]:
        return self._portal.call(self.aio.list_schedules, status, limit)

    @twin_of(AsyncOmniQ.pause_schedule)
    def pause_schedule(self, schedule_id: str) -> bool:
        return self._portal.call(self.aio.pause_schedule, schedule_id)

    @twin_of(AsyncOmniQ.resume_schedule)
    def resume_schedule(self, schedule_id: str) -> bool:
        return self._portal.call(self.aio.resume_schedule, schedule_id)

    @twin_of(AsyncOmniQ.cancel_schedule)
    def cancel_schedule(self, schedule_id: str) -> bool:
        return self._portal.call(self.aio.cancel_schedule, schedule_id)

    @twin_of(AsyncOmniQ.events)
    def events(
        self,
        task_id: str | None = None,
        *,
        types: Sequence[EventType | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[TaskEvent]:
        return self._portal.call(self.aio.events, task_id, types=types, since=since, until=until, limit=limit)

    @twin_of(AsyncOmniQ.counts)
    def counts(self) -> dict[str, dict[str, int]]:
        return self._portal.call(self.aio.counts)

    @twin_of(AsyncOmniQ.start_worker)
    def start_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        self._portal.call(self.aio.start_worker, worker_type, max_workers=max_workers, queues=queues)

    @twin_of(AsyncOmniQ.stop_worker)
    def stop_worker(self, grace: float | None = None) -> None:
        self._portal.call(self.aio.stop_worker, grace)

    @twin_of(AsyncOmniQ.run_worker)
    def run_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        previous: dict[signal.Signals, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():

            def request_stop(signum: int, frame: FrameType | None) -> None:
                self._portal.call_soon(self.aio._on_stop_signal)

            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, request_stop)
        try:
            self._portal.call(
                self.aio.run_worker,
                worker_type,
                max_workers=max_workers,
                queues=queues,
                install_signal_handlers=False,
            )
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @twin_of(AsyncOmniQ.request_worker_stop)
    def request_worker_stop(self, *, force: bool = False) -> None:
        self._portal.call_soon(lambda: self.aio.request_worker_stop(force=force))
