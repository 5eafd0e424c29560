"""Blocking twins of the backend interfaces and of the workers.

Each twin holds the async object and a :class:`~omniq.core._portal.LoopThread` (its own, or one
shared with other twins so that they all use one loop and one set of connections). Methods have the
async methods' names and signatures (a test compares them) and hand each call to the loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self, cast

from omniq.core._portal import LoopThread, shared_loop, twin_of
from omniq.core.capabilities import Capability, require
from omniq.core.components import ComponentView
from omniq.core.config import OmniQConfig
from omniq.core.interfaces import BaseComponent, BaseEventStorage, BaseResultStorage, BaseTaskQueue, TaskAdmin
from omniq.core.models import TaskStatus
from omniq.core.records import (
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    TaskChange,
    TaskRecord,
)
from omniq.core.settings import Settings
from omniq.core.worker import BaseWorker, worker_class

__all__ = [
    "EventStorageTwin",
    "ResultStorageTwin",
    "SyncEventStorage",
    "SyncResultStorage",
    "SyncTaskQueue",
    "SyncWorker",
    "TaskQueueTwin",
]


class _SyncTwin:
    """Lifecycle shared by the twins: ``open``/``close`` and ``with``."""

    def __init__(self, target: BaseComponent | BaseWorker, portal: LoopThread | None) -> None:
        self._owns_portal = portal is None
        self.portal = portal or LoopThread()
        self._target = target

    def _close_portal(self) -> None:
        if self._owns_portal:
            self.portal.stop()

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

    def open(self) -> None:
        """Open the async object on the loop."""
        assert isinstance(self._target, BaseComponent)
        self.portal.call(self._target.open)

    def close(self) -> None:
        """Close the async object, then the loop if this twin owns it."""
        assert isinstance(self._target, BaseComponent)
        if self.portal.started:
            self.portal.call(self._target.close)
        self._close_portal()


class _SyncComponent(_SyncTwin):
    """Lifecycle of the component twins: a store may also be opened only if it exists."""

    _target: BaseComponent

    @twin_of(BaseComponent.open_existing)
    def open_existing(self) -> None:
        self.portal.call(self._target.open_existing)

    @twin_of(BaseComponent.use_settings)
    def use_settings(self, settings: Settings) -> None:
        self._target.use_settings(settings)  # no I/O: not on the loop


class SyncTaskQueue(_SyncComponent):
    """Blocking twin of a :class:`~omniq.core.interfaces.BaseTaskQueue`."""

    def __init__(self, queue: BaseTaskQueue, portal: LoopThread | None = None) -> None:
        super().__init__(queue, portal)
        self.aio = queue

    @twin_of(BaseTaskQueue.enqueue)
    def enqueue(self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()) -> list[str]:
        return self.portal.call(self.aio.enqueue, records, events=events)

    @twin_of(BaseTaskQueue.claim)
    def claim(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_token: str,
        lease_expires_at: float,
        now: float,
        write_events: bool = False,
    ) -> list[TaskRecord]:
        return self.portal.call(
            self.aio.claim,
            queues,
            limit=limit,
            worker_id=worker_id,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            now=now,
            write_events=write_events,
        )

    @twin_of(BaseTaskQueue.release_claim)
    def release_claim(self, lease_token: str, now: float) -> int:
        return self.portal.call(self.aio.release_claim, lease_token, now)

    @twin_of(BaseTaskQueue.heartbeat)
    def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        return self.portal.call(self.aio.heartbeat, leases, lease_expires_at=lease_expires_at, now=now)

    @twin_of(BaseTaskQueue.finish)
    def finish(self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()) -> FinishReport:
        return self.portal.call(self.aio.finish, outcomes, events=events)

    @twin_of(BaseTaskQueue.finish_with_results)
    def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        return self.portal.call(self.aio.finish_with_results, outcomes, results, events=events)

    @twin_of(BaseTaskQueue.resolve_dependencies)
    def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        return self.portal.call(self.aio.resolve_dependencies, task_ids, now)

    @twin_of(BaseTaskQueue.reap)
    def reap(self, now: float) -> ReapReport:
        return self.portal.call(self.aio.reap, now)

    @twin_of(BaseTaskQueue.get_task)
    def get_task(self, task_id: str) -> TaskRecord | None:
        return self.portal.call(self.aio.get_task, task_id)

    @twin_of(TaskAdmin.list_tasks)
    def list_tasks(
        self, *, queue: str | None = None, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        return self.portal.call(
            self._admin("listing tasks").list_tasks, queue=queue, status=status, limit=limit
        )

    @twin_of(TaskAdmin.count_tasks)
    def count_tasks(self) -> dict[str, dict[str, int]]:
        return self.portal.call(self._admin("counting tasks").count_tasks)

    @twin_of(BaseTaskQueue.cancel)
    def cancel(self, task_id: str, now: float) -> TaskChange | None:
        return self.portal.call(self.aio.cancel, task_id, now)

    @twin_of(TaskAdmin.requeue)
    def requeue(self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()) -> TaskChange | None:
        return self.portal.call(self._admin("requeueing tasks").requeue, task_id, now, events=events)

    @twin_of(TaskAdmin.purge_tasks)
    def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        return self.portal.call(self._admin("purging tasks").purge_tasks, status, before=before, limit=limit)

    def _admin(self, needed_for: str) -> TaskAdmin:
        require(self.aio, Capability.ADMIN, needed_for)
        assert isinstance(self.aio, TaskAdmin)
        return self.aio

    @twin_of(BaseTaskQueue.wait_for_tasks)
    def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        self.portal.call(self.aio.wait_for_tasks, queues, timeout)

    @twin_of(BaseTaskQueue.watch_cancellations)
    @contextlib.contextmanager
    def watch_cancellations(self, worker_id: str, on_cancel: Callable[[str], None]) -> Iterator[bool]:
        # The watch is entered and left on the loop, whose thread then calls on_cancel.
        stack = contextlib.AsyncExitStack()

        async def enter() -> bool:
            return await stack.enter_async_context(self.aio.watch_cancellations(worker_id, on_cancel))

        async def leave() -> None:
            await stack.aclose()

        pushes = self.portal.call(enter)
        try:
            yield pushes
        finally:
            self.portal.call(leave)


class SyncResultStorage(_SyncComponent):
    """Blocking twin of a :class:`~omniq.core.interfaces.BaseResultStorage`."""

    def __init__(self, storage: BaseResultStorage, portal: LoopThread | None = None) -> None:
        super().__init__(storage, portal)
        self.aio = storage

    @twin_of(BaseResultStorage.put_results)
    def put_results(self, records: Sequence[ResultRecord]) -> None:
        self.portal.call(self.aio.put_results, records)

    @twin_of(BaseResultStorage.get_result)
    def get_result(self, task_id: str) -> ResultRecord | None:
        return self.portal.call(self.aio.get_result, task_id)

    @twin_of(BaseResultStorage.delete_results)
    def delete_results(self, task_ids: Sequence[str]) -> None:
        self.portal.call(self.aio.delete_results, task_ids)

    @twin_of(BaseResultStorage.purge_results)
    def purge_results(self, now: float) -> int:
        return self.portal.call(self.aio.purge_results, now)

    @twin_of(BaseResultStorage.wait_for_result)
    def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        return self.portal.call(self.aio.wait_for_result, task_id, timeout)


class SyncEventStorage(_SyncComponent):
    """Blocking twin of a :class:`~omniq.core.interfaces.BaseEventStorage`."""

    def __init__(self, storage: BaseEventStorage, portal: LoopThread | None = None) -> None:
        super().__init__(storage, portal)
        self.aio = storage

    @twin_of(BaseEventStorage.append_events)
    def append_events(self, records: Sequence[EventRecord]) -> None:
        self.portal.call(self.aio.append_events, records)

    @twin_of(BaseEventStorage.query_events)
    def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        return self.portal.call(
            self.aio.query_events, task_id=task_id, types=types, since=since, until=until, limit=limit
        )

    @twin_of(BaseEventStorage.purge_events)
    def purge_events(self, before: float) -> int:
        return self.portal.call(self.aio.purge_events, before)


class SyncWorker(_SyncTwin):
    """Blocking twin of a worker: ``start()`` runs it in the background of the twin's loop."""

    def __init__(self, worker: BaseWorker, portal: LoopThread | None = None) -> None:
        super().__init__(worker, portal)
        self.aio = worker

    def open(self) -> None:
        """Start the worker (a worker's ``open`` is its ``start``)."""
        self.start()

    def close(self) -> None:
        """Stop the worker gracefully and close the loop if this twin owns it."""
        if self.portal.started:
            self.stop()
        self._close_portal()

    @classmethod
    def create(
        cls,
        worker_type: str = "thread",
        *,
        queue: BaseTaskQueue | SyncTaskQueue,
        result_store: BaseResultStorage | SyncResultStorage | None = None,
        event_store: BaseEventStorage | SyncEventStorage | None = None,
        **options: Any,
    ) -> SyncWorker:
        """A worker of ``worker_type`` on these components (blocking or async ones), not started.

        It runs on the loop of ``queue`` when that is a blocking component, so that it shares its
        connections; ``options`` are the worker's (``max_workers``, ``queues``, ``settings``...).
        """
        cls_ = worker_class(worker_type)
        worker = cls_(
            queue.aio if isinstance(queue, SyncTaskQueue) else queue,
            result_store.aio if isinstance(result_store, SyncResultStorage) else result_store,
            event_store.aio if isinstance(event_store, SyncEventStorage) else event_store,
            **options,
        )
        return cls(worker, queue.portal if isinstance(queue, SyncTaskQueue) else shared_loop())

    @twin_of(BaseWorker.start)
    def start(self) -> None:
        self.portal.call(self.aio.start)

    @twin_of(BaseWorker.stop)
    def stop(self, grace: float | None = None) -> None:
        self.portal.call(self.aio.stop, grace)

    @twin_of(BaseWorker.run)
    def run(self) -> None:
        self.portal.call(self.aio.run)

    @twin_of(BaseWorker.on_stop_signal)
    def on_stop_signal(self) -> None:
        self.portal.call_soon(self.aio.on_stop_signal)

    @twin_of(BaseWorker.request_stop)
    def request_stop(self, *, force: bool = False) -> None:
        self.portal.call_soon(lambda: self.aio.request_stop(force=force))


class _ComponentTwin:
    """Blocking twin of a component class: built from the same arguments or configuration.

    Twins made without a ``portal`` share :func:`~omniq.core._portal.shared_loop`, so that the
    components one worker or application uses live on one loop.
    """

    #: The async component class this class wraps.
    async_type: ClassVar[type[ComponentView]]

    def __init__(self, *args: Any, portal: LoopThread | None = None, **options: Any) -> None:
        # One component of async_type is wrapped; any other arguments build one.
        single = args[0] if len(args) == 1 and not options else None
        view = single if isinstance(single, self.async_type) else self.async_type(*args, **options)
        cast(Any, super()).__init__(view, portal or shared_loop())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({cast(Any, self).aio.backend!r})"

    @classmethod
    @twin_of(ComponentView.from_config)
    def from_config(cls, config: OmniQConfig, **overrides: Any) -> Self:
        return cls(cls.async_type.from_config(config, **overrides))

    @classmethod
    @twin_of(ComponentView.from_dict)
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> Self:
        return cls(cls.async_type.from_dict(data, **overrides))

    @classmethod
    @twin_of(ComponentView.from_config_file)
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        return cls(cls.async_type.from_config_file(path, **overrides))

    @classmethod
    @twin_of(ComponentView.from_env)
    def from_env(cls, **overrides: Any) -> Self:
        return cls(cls.async_type.from_env(**overrides))


class TaskQueueTwin(_ComponentTwin, SyncTaskQueue):
    """Base of blocking task queue classes (``SQLiteTaskQueue``): set ``async_type``."""


class ResultStorageTwin(_ComponentTwin, SyncResultStorage):
    """Base of blocking result storage classes (``SQLiteResultStorage``): set ``async_type``."""


class EventStorageTwin(_ComponentTwin, SyncEventStorage):
    """Base of blocking event storage classes (``SQLiteEventStorage``): set ``async_type``."""
