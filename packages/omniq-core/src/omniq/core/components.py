"""Component classes: one role of a backend (task queue, result store, event store) as its own object.

``AsyncSQLiteTaskQueue(base_dir="data")`` is the plan's component style. Each such class is a thin
view: it builds (or is given) the backend object and forwards every operation of its role to it, so
there is one implementation per backend and the role classes add no behaviour. A backend package
offers its own with a few lines per role::

    class AsyncFooTaskQueue(ScheduledTaskQueueView):
        backend_type = FooBackend

Every view is an unopened :class:`~omniq.core.interfaces.BaseComponent` and an async context manager,
and is built from configuration like the application is (``from_env``, ``from_dict``,
``from_config_file``, ``from_config``), taking its role's section of the same file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, cast

from omniq.core._wiring import wire
from omniq.core.capabilities import Capability, require
from omniq.core.config import OmniQConfig
from omniq.core.errors import ConfigurationError
from omniq.core.interfaces import (
    BaseComponent,
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)
from omniq.core.models import ScheduleStatus, TaskStatus
from omniq.core.records import (
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    ScheduleChange,
    ScheduleRecord,
    ScheduleRun,
    TaskChange,
    TaskRecord,
)
from omniq.core.registry import open_url
from omniq.core.settings import Settings

__all__ = [
    "ComponentView",
    "EventStorageView",
    "ResultStorageView",
    "ScheduledTaskQueueView",
    "TaskQueueView",
]


class ComponentView(BaseComponent):
    """One role of a backend object.

    Args:
        *args: the backend object to serve (a ``backend_type``), or the positional arguments
            of ``backend_type`` to build one.
        **options: the keyword arguments of ``backend_type`` (``base_dir=...``).

    Opening and closing the view opens and closes its backend.
    """

    #: The backend class whose role this view serves.
    backend_type: ClassVar[type[BaseComponent]]
    #: The interface of the role, and its configuration section.
    role_type: ClassVar[type[BaseComponent]]
    role: ClassVar[str]

    def __init__(self, *args: Any, **options: Any) -> None:
        backend = args[0] if len(args) == 1 and isinstance(args[0], BaseComponent) else None
        if backend is None:
            try:
                backend = self.backend_type(*args, **options)
            except TypeError as exc:
                raise ConfigurationError(f"{type(self).__name__}: {exc}") from exc
        elif options:
            raise TypeError(f"{type(self).__name__}() takes a backend or its options, not both")
        if not isinstance(backend, self.backend_type):
            raise ConfigurationError(
                f"{type(self).__name__} serves a {self.backend_type.__name__}, not {backend!r}"
            )
        self.backend: BaseComponent = backend

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """The view of the backend ``url`` names (which must be a ``backend_type``)."""
        return cls(cls.backend_type.from_url(url, **options))

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """The view of the backend built from a config section's options."""
        return cls(cls.backend_type.from_options(options, settings, where=where))

    @classmethod
    def from_config(cls, config: OmniQConfig, **overrides: Any) -> Self:
        """The component ``config`` names for this class's role (``task_queue``, ...), after
        ``OMNIQ_*`` variables and ``overrides``; it must be of this class's backend."""
        wiring = wire(config, overrides)
        ref = getattr(wiring, cls.role)
        if ref is False:
            raise ConfigurationError(f"{cls.role} is turned off in this configuration")
        component = open_url(ref) if isinstance(ref, str) else ref
        backend = component.backend if isinstance(component, ComponentView) else component
        if not isinstance(backend, cls.backend_type):
            raise ConfigurationError(
                f"the configured {cls.role} is {backend!r}; "
                f"{cls.__name__} needs a {cls.backend_type.__name__}"
            )
        return cls(backend)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> Self:
        """:meth:`from_config` for a mapping shaped like a config file."""
        return cls.from_config(OmniQConfig.from_dict(data), **overrides)

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        """:meth:`from_config` for a YAML, TOML or JSON file."""
        return cls.from_config(OmniQConfig.from_file(path), **overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """:meth:`from_config` from ``OMNIQ_*`` variables and defaults alone."""
        return cls.from_config(OmniQConfig(), **overrides)

    def use_settings(self, settings: Settings) -> None:
        """Hand the settings to the backend."""
        self.backend.use_settings(settings)

    async def open(self) -> None:
        """Open the backend (idempotent)."""
        await self.backend.open()

    async def open_existing(self) -> None:
        """Open the backend if its store exists (see :meth:`BaseComponent.open_existing`)."""
        await self.backend.open_existing()

    async def close(self) -> None:
        """Close the backend."""
        await self.backend.close()


class TaskQueueView(ComponentView, BaseTaskQueue, TaskAdmin):
    """The task queue of a backend; every operation is the backend's."""

    role_type = BaseTaskQueue
    role = "task_queue"

    @property
    def _queue(self) -> BaseTaskQueue:
        return cast(BaseTaskQueue, self.backend)

    @property
    def _admin(self) -> TaskAdmin:
        require(self.backend, Capability.ADMIN, "this call")
        return cast(TaskAdmin, self.backend)

    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        return await self._queue.enqueue(records, events=events)

    async def claim(
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
        return await self._queue.claim(
            queues,
            limit=limit,
            worker_id=worker_id,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            now=now,
            write_events=write_events,
        )

    async def release_claim(self, lease_token: str, now: float) -> int:
        return await self._queue.release_claim(lease_token, now)

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        return await self._queue.heartbeat(leases, lease_expires_at=lease_expires_at, now=now)

    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        return await self._queue.finish(outcomes, events=events)

    async def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        return await self._queue.finish_with_results(outcomes, results, events=events)

    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        return await self._queue.resolve_dependencies(task_ids, now)

    async def reap(self, now: float) -> ReapReport:
        return await self._queue.reap(now)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._queue.get_task(task_id)

    async def list_tasks(
        self, *, queue: str | None = None, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        return await self._admin.list_tasks(queue=queue, status=status, limit=limit)

    async def count_tasks(self) -> dict[str, dict[str, int]]:
        return await self._admin.count_tasks()

    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        return await self._queue.cancel(task_id, now)

    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        return await self._admin.requeue(task_id, now, events=events)

    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        return await self._admin.purge_tasks(status, before=before, limit=limit)

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        await self._queue.wait_for_tasks(queues, timeout)

    def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> contextlib.AbstractAsyncContextManager[bool]:
        return self._queue.watch_cancellations(worker_id, on_cancel)


class ScheduledTaskQueueView(TaskQueueView, BaseScheduleStore):
    """The task queue of a backend that also keeps schedules (workers then run the scheduler)."""

    @property
    def _schedules(self) -> BaseScheduleStore:
        return cast(BaseScheduleStore, self.backend)

    async def add_schedule(self, record: ScheduleRecord) -> None:
        await self._schedules.add_schedule(record)

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        return await self._schedules.get_schedule(schedule_id)

    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        return await self._schedules.list_schedules(status=status, limit=limit)

    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        return await self._schedules.due_schedules(now, limit=limit)

    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        return await self._schedules.trigger_schedule(
            schedule_id, expected_next_run_at, run, task, events=events
        )

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        return await self._schedules.set_schedule_status(
            schedule_id, status, next_run_at=next_run_at, now=now, from_statuses=from_statuses
        )


class ResultStorageView(ComponentView, BaseResultStorage):
    """The result store of a backend."""

    role_type = BaseResultStorage
    role = "result_store"

    @property
    def _results(self) -> BaseResultStorage:
        return cast(BaseResultStorage, self.backend)

    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        await self._results.put_results(records)

    async def get_result(self, task_id: str) -> ResultRecord | None:
        return await self._results.get_result(task_id)

    async def delete_results(self, task_ids: Sequence[str]) -> None:
        await self._results.delete_results(task_ids)

    async def purge_results(self, now: float) -> int:
        return await self._results.purge_results(now)

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        return await self._results.wait_for_result(task_id, timeout)


class EventStorageView(ComponentView, BaseEventStorage):
    """The event store of a backend."""

    role_type = BaseEventStorage
    role = "event_store"

    @property
    def _events(self) -> BaseEventStorage:
        return cast(BaseEventStorage, self.backend)

    async def append_events(self, records: Sequence[EventRecord]) -> None:
        await self._events.append_events(records)

    async def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        return await self._events.query_events(
            task_id=task_id, types=types, since=since, until=until, limit=limit
        )

    async def purge_events(self, before: float) -> int:
        return await self._events.purge_events(before)
