"""``AsyncOmniQ``: the application object. Everything OmniQ does is implemented here, async.

The sync :class:`~omniq.core.OmniQ` wraps this class method for method.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, ParamSpec, Protocol, Self, TypeVar, cast, overload

import msgspec

from omniq.core._wiring import wire
from omniq.core.callbacks import CallbackKind, CallbackRef, Callbacks, TaskOutcome, callback_names
from omniq.core.capabilities import Capability, require
from omniq.core.codec import (
    event_from_record,
    result_from_record,
    task_from_record,
)
from omniq.core.config import WORKER_SETTINGS, OmniQConfig
from omniq.core.errors import ConfigurationError, UnknownScheduleError, ValidationError
from omniq.core.events import EventRecorder
from omniq.core.function_policy import FunctionPolicy
from omniq.core.functions import FunctionRegistry, function_name
from omniq.core.interfaces import (
    BaseComponent,
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)
from omniq.core.logs import apply_log_level
from omniq.core.models import (
    EventType,
    Schedule,
    ScheduleStatus,
    Task,
    TaskEvent,
    TaskResult,
    TaskStatus,
)
from omniq.core.options import RecordFactory, Seconds, TaskOptions, checked_id
from omniq.core.records import TaskRecord, events_about
from omniq.core.registry import open_url
from omniq.core.schedules import new_schedule, schedule_event, schedule_from_record
from omniq.core.serialization import SerializationManager
from omniq.core.settings import EVENTS_OFF, Settings, check_keys
from omniq.core.signatures import check_call, check_keyword_calls
from omniq.core.sync_components import SyncEventStorage, SyncResultStorage, SyncTaskQueue
from omniq.core.task_function import AsyncTaskFunction
from omniq.core.triggers import Trigger, decode_schedule_spec
from omniq.core.urls import mask_url
from omniq.core.worker import BaseWorker, worker_class
from omniq.core.worker._outcomes import dependency_results, final_result, task_event
from omniq.core.worker.base import PURGE_BATCH

__all__ = ["FINAL_STATUSES", "AsyncOmniQ", "shown_stores"]

logger = logging.getLogger("omniq")

#: The statuses ``requeue`` revives.
_REQUEUABLE = frozenset({TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED})
#: The statuses ``purge_tasks`` deletes: no worker will change a task in one of them.
FINAL_STATUSES = (TaskStatus.COMPLETED, TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED)

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[[TaskOutcome], Any])
R = TypeVar("R")
Q = ParamSpec("Q")
T = TypeVar("T")


class _AsyncTaskDecorator(Protocol):
    def __call__(self, func: Callable[Q, T], /) -> AsyncTaskFunction[Q, T]: ...


TaskRef = Callable[..., Any] | str
TaskQueueRef = str | BaseTaskQueue | SyncTaskQueue
ResultStoreRef = str | BaseResultStorage | SyncResultStorage
EventStoreRef = str | BaseEventStorage | SyncEventStorage


class AsyncOmniQ:
    """A task queue application: enqueue tasks, read results and events, run workers.

    Args:
        url: one backend URI for the task queue, results and events (``"sqlite:///omniq.db"``).
        task_queue: the task queue, as a URI or a component, async or blocking (default: ``url``
            or the settings).
        result_store: where results go (default: the task queue's backend).
        event_store: where events go (default: the task queue's backend); ``False`` turns event
            logging off.
        settings: settings to use as they are (otherwise they are loaded from the environment).
        **overrides: settings given as arguments; they win over the environment.

    Components are opened on first use (or by ``async with``) and closed by :meth:`close`.
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
        self.settings = settings or Settings.load(**overrides)
        apply_log_level(self.settings.log_level)
        self.serializer = SerializationManager(
            allow_dill=self.settings.allow_dill, secret_key=self.settings.secret_key
        )
        self.functions = FunctionRegistry(FunctionPolicy.from_settings(self.settings))
        self.callbacks = Callbacks()
        self._owned: dict[str, BaseComponent] = {}
        queue_url = url or self.settings.queue_url
        self.task_queue: BaseTaskQueue = self._component(task_queue or queue_url, BaseTaskQueue, "task queue")
        self.result_store: BaseResultStorage = self._component(
            result_store or url or self.settings.result_storage_url or queue_url,
            BaseResultStorage,
            "result storage",
        )
        events = self._event_store_ref(url, event_store, queue_url)
        self.event_store: BaseEventStorage | None = (
            None if events is None else self._component(events, BaseEventStorage, "event storage")
        )
        self.recorder = EventRecorder(self.event_store)
        self._open_lock: asyncio.Lock | None = None
        self._opened = False
        self._worker: BaseWorker | None = None

    def __repr__(self) -> str:
        return f"AsyncOmniQ({_stores_repr(self)})"

    # -- configuration ----------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: OmniQConfig, **overrides: Any) -> Self:
        """An application as ``config`` describes it; ``OMNIQ_*`` variables win over the config
        and ``overrides`` (settings) over both."""
        wiring = wire(config, overrides)
        # Built components are checked against their role by __init__, as given ones are.
        app = cls(
            task_queue=cast(Any, wiring.task_queue),
            result_store=cast(Any, wiring.result_store),
            event_store=cast(Any, wiring.event_store),
            settings=wiring.settings,
        )
        for component in wiring.built:
            app._owned[f"#{id(component)}"] = component
        return app

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> Self:
        """:meth:`from_config` for a mapping shaped like a config file (settings at the top level,
        ``task_queue``/``result_store``/``event_store``/``worker`` sections)."""
        return cls.from_config(OmniQConfig.from_dict(data), **overrides)

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        """:meth:`from_config` for a YAML (``omniq-core[yaml]``), TOML or JSON file."""
        return cls.from_config(OmniQConfig.from_file(path), **overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """An application from ``OMNIQ_*`` variables and defaults alone."""
        return cls.from_config(OmniQConfig(), **overrides)

    @classmethod
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
        """An application on backend objects (``SQLiteBackend(project_name=..., base_dir=...)``):
        ``backend`` serves every role unless ``result_store_backend``/``event_store_backend`` say
        otherwise (``False``: no events). The application closes them when it closes.

        ``worker_type`` and ``worker_config`` (worker settings such as ``max_workers``) are the
        defaults of :meth:`start_worker` and :meth:`run_worker`.
        """
        worker_settings = dict(worker_config or {})
        check_keys(worker_settings, WORKER_SETTINGS, "in worker_config")
        if worker_type is not None:
            worker_settings["default_worker"] = worker_type
        settings = Settings.load(**{**worker_settings, **overrides})
        app = cls(
            task_queue=cast(Any, backend),
            result_store=cast(Any, result_store_backend or backend),
            event_store=cast(Any, backend if event_store_backend is None else event_store_backend),
            settings=settings,
        )
        for component in (backend, result_store_backend, event_store_backend):
            if isinstance(component, BaseComponent):
                app._owned[f"#{id(component)}"] = component
        return app

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect every component (idempotent; every other method calls it on first use)."""
        await self._open(existing=False)

    async def open_existing(self) -> None:
        """Connect every component whose store already exists, creating none: for tools that only
        read or change existing tasks (``omniq info``, ``omniq dead list``, ...). Once open, the
        application works as after :meth:`open`.

        Raises:
            omniq.core.errors.StoreNotFoundError: naming the first store that does not exist (an
                SQLite file, the OmniQ schema of a PostgreSQL database); nothing is created and
                nothing stays open.
        """
        await self._open(existing=True)

    async def _open(self, *, existing: bool) -> None:
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._opened:  # another caller may have opened it while this one waited
                owned = [id(component) for component in self._owned.values()]
                opened: list[BaseComponent] = []
                try:
                    for component in self._components():
                        await (component.open_existing() if existing else component.open())
                        opened.append(component)
                except BaseException:
                    # What this application made, it closes again; components it was given stay
                    # as their owner left them.
                    for component in reversed(opened):
                        if id(component) in owned:
                            await component.close()
                    raise
                await self.recorder.start()
                self._opened = True

    async def close(self) -> None:
        """Stop the background worker (gracefully), flush events and close what this app opened."""
        if self._worker is not None:
            await self.stop_worker()
        if not self._opened:
            return
        await self.recorder.close()
        for component in self._owned.values():
            await component.close()
        self._opened = False

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- tasks ------------------------------------------------------------------------------

    @overload
    def task(self, func: Callable[P, R], /) -> AsyncTaskFunction[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_retries: int | None = None,
        retry_delay: Seconds | None = None,
        retry_on: Sequence[type[BaseException] | str] | None = None,
        timeout: Seconds | None = None,
        ttl: Seconds | None = None,
        result_ttl: Seconds | None = None,
        on_success: CallbackRef | None = None,
        on_failure: CallbackRef | None = None,
        on_retry: CallbackRef | None = None,
        on_dead: CallbackRef | None = None,
    ) -> _AsyncTaskDecorator: ...

    def task(
        self,
        func: Callable[P, R] | None = None,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_retries: int | None = None,
        retry_delay: Seconds | None = None,
        retry_on: Sequence[type[BaseException] | str] | None = None,
        timeout: Seconds | None = None,
        ttl: Seconds | None = None,
        result_ttl: Seconds | None = None,
        on_success: CallbackRef | None = None,
        on_failure: CallbackRef | None = None,
        on_retry: CallbackRef | None = None,
        on_dead: CallbackRef | None = None,
    ) -> AsyncTaskFunction[P, R] | _AsyncTaskDecorator:
        """Make ``func`` a task with default enqueue options; usable with or without arguments.

        ``on_success``, ``on_failure``, ``on_retry`` and ``on_dead`` take a module-level function
        (or its import path, or a list of them) called with a :class:`~omniq.core.TaskOutcome`
        after that outcome is stored; see :mod:`omniq.core.callbacks`.
        """
        options = TaskOptions(
            queue_name=queue,
            priority=priority,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
            timeout=timeout,
            ttl=ttl,
            result_ttl=result_ttl,
            callbacks=callback_names(success=on_success, failure=on_failure, retry=on_retry, dead=on_dead),
        )

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
        queue_name: str | None = None,
        priority: int | None = None,
        run_in: Seconds | None = None,
        run_at: datetime | None = None,
        ttl: Seconds | None = None,
        result_ttl: Seconds | None = None,
        timeout: Seconds | None = None,
        max_retries: int | None = None,
        retry_delay: Seconds | None = None,
        retry_on: Sequence[type[BaseException] | str] | None = None,
        depends_on: Sequence[str] = (),
        dedup_key: str | None = None,
    ) -> str:
        """Queue one call of ``func`` (a function, a ``@task`` or a registered name); returns its id.

        With ``depends_on``, the task waits until every task named has completed; if one ends dead,
        cancelled or expired, this one is cancelled too. With ``dedup_key``, if a task holding that
        key is still pending or running, its id is returned and nothing new is queued.
        """
        options = TaskOptions(
            queue_name=queue_name,
            priority=priority,
            run_in=run_in,
            run_at=run_at,
            ttl=ttl,
            result_ttl=result_ttl,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
            depends_on=depends_on,
            dedup_key=dedup_key,
        )
        factory = self._factory(func, options)
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
        *,
        queue_name: str | None = None,
        priority: int | None = None,
        run_in: Seconds | None = None,
        run_at: datetime | None = None,
        ttl: Seconds | None = None,
        result_ttl: Seconds | None = None,
        timeout: Seconds | None = None,
        max_retries: int | None = None,
        retry_delay: Seconds | None = None,
        retry_on: Sequence[type[BaseException] | str] | None = None,
        depends_on: Sequence[str] = (),
    ) -> list[str]:
        """Queue one call of ``func`` per mapping of keyword arguments, in one round trip (each
        waiting on every task in ``depends_on``, if given)."""
        options = TaskOptions(
            queue_name=queue_name,
            priority=priority,
            run_in=run_in,
            run_at=run_at,
            ttl=ttl,
            result_ttl=result_ttl,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
            depends_on=depends_on,
        )
        factory = self._factory(func, options)
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

    async def list_tasks(
        self, queue_name: str | None = None, status: TaskStatus | str | None = None, limit: int = 100
    ) -> list[Task]:
        """Tasks, oldest first, filtered by queue and status."""
        await self.open()
        records = await self._admin("listing tasks").list_tasks(
            queue=queue_name, status=None if status is None else TaskStatus(status), limit=limit
        )
        return [task_from_record(record) for record in records]

    async def dead_letters(self, queue_name: str | None = None, limit: int = 100) -> list[Task]:
        """Tasks that ran out of attempts or could not run, oldest first, with their errors."""
        return await self.list_tasks(queue_name, TaskStatus.DEAD, limit)

    async def purge_dead_letters(self, older_than: Seconds | None = None) -> int:
        """Delete dead tasks (those dead for longer than ``older_than``, if given); returns how many."""
        return await self.purge_tasks(TaskStatus.DEAD, older_than)

    async def purge_tasks(
        self,
        status: TaskStatus | str | Sequence[TaskStatus | str],
        older_than: Seconds | None = None,
    ) -> int:
        """Delete the tasks in ``status`` (one final status or several: ``completed``, ``dead``,
        ``cancelled``, ``expired``), only those last changed longer than ``older_than`` ago if
        given; returns how many.

        Their results stay until their own expiry. A finished task that waiting tasks depend on is
        kept until they are resolved (at the next reap), so that none waits for ever.

        Raises:
            ValidationError: ``status`` names a status that is not final, or ``older_than`` is
                negative.
        """
        statuses = _final_statuses(status)
        await self.open()
        admin = self._admin("purging tasks")
        before = None
        if older_than is not None:
            age = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
            if age < 0:
                raise ValidationError("older_than", f"must be zero or positive, got {older_than!r}")
            before = time.time() - age
        purged = 0
        for final in statuses:
            # In batches, so that no single call holds the store for the whole purge.
            while True:
                batch = await admin.purge_tasks(final, before=before, limit=PURGE_BATCH)
                purged += batch
                if batch < PURGE_BATCH:
                    break
        return purged

    async def requeue(self, task_id: str) -> bool:
        """Run a dead, cancelled or expired task again with fresh attempts (its old result goes)."""
        checked_id(task_id)
        await self.open()
        admin = self._admin("requeueing tasks")
        task = await self.task_queue.get_task(task_id)
        if task is None or task.status not in _REQUEUABLE:
            return False
        # The old result goes first: once the task is pending, a worker may store a new one.
        await self.result_store.delete_results([task_id])
        now = time.time()
        fresh = msgspec.structs.replace(task, attempts=0)  # as the requeue leaves it
        event = task_event(fresh, EventType.ENQUEUED, now, details={"requeued": True})
        travels = self.recorder.travels_with(self.task_queue)
        change = await admin.requeue(task_id, now, events=[event] if travels else ())
        if change is None or not change.changed:  # unknown, or not dead, cancelled or expired
            return False
        if not travels:
            self.recorder.record(event)
        return True

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task that has not finished; ``False`` if it is unknown or already final.

        A running task's worker stops it at once where the task queue pushes cancellations (every
        bundled backend does), else at its next heartbeat; it is not retried.
        """
        checked_id(task_id)
        await self.open()
        now = time.time()
        change = await self.task_queue.cancel(task_id, now)
        if change is None or not change.changed:  # unknown, or already final
            return False
        self.recorder.record(task_event(change.task, EventType.CANCELLED, now))
        result = final_result(change.task, now)
        assert result is not None
        report = await self.task_queue.resolve_dependencies([task_id], now)
        results = [result, *dependency_results(report, self.recorder.record, now)]
        await self.result_store.put_results(results)
        return True

    async def get_result(
        self,
        task_id: str | None = None,
        *,
        schedule_id: str | None = None,
        kind: Literal["latest"] = "latest",
        timeout: float | None = None,
    ) -> TaskResult | None:
        """The task's result: ``None`` if there is none yet, or with ``timeout`` the result once it
        arrives (raises :class:`TimeoutError` if none does in time).

        With ``schedule_id`` instead of a task id: the result of the schedule's ``latest`` run
        (with ``timeout``, waiting for a first run and its result).

        A task that ended ``dead``, ``cancelled`` or ``expired`` always has a result, even when the
        process that ended it stopped before storing one: it is rebuilt from the task.
        """
        await self.open()
        if (task_id is None) == (schedule_id is None):
            raise ValidationError("task_id", "give a task id or a schedule_id (not both)")
        if task_id is not None:
            checked_id(task_id)
        if schedule_id is not None:
            checked_id(schedule_id, "schedule_id")
        if kind != "latest":
            raise ValidationError("kind", f"only 'latest' is supported, got {kind!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if schedule_id is not None:
            task_id = await self._latest_run(schedule_id, deadline)
        if task_id is None:
            return None  # the schedule has made no run yet
        if deadline is None:
            record = await self.result_store.get_result(task_id)
        else:
            record = await self.result_store.wait_for_result(task_id, max(0.0, deadline - time.monotonic()))
        if record is None:
            task = await self.task_queue.get_task(task_id)
            record = None if task is None else final_result(task, task.updated_at)
        if record is None and timeout is not None:
            raise TimeoutError(f"no result for task {task_id} within {timeout} s")
        return None if record is None else result_from_record(record, self.serializer)

    async def _latest_run(self, schedule_id: str, deadline: float | None) -> str | None:
        """The id of the schedule's latest run; waits for a first run until ``deadline``."""
        store = self._schedule_store()
        while True:
            record = await store.get_schedule(schedule_id)
            if record is None:
                raise UnknownScheduleError(schedule_id)
            if record.last_task_id is not None:
                return record.last_task_id
            if deadline is None:
                return None
            if time.monotonic() >= deadline:
                raise TimeoutError(f"schedule {schedule_id} made no run in time")
            await asyncio.sleep(min(self.settings.poll_interval, max(0.0, deadline - time.monotonic())))

    # -- schedules --------------------------------------------------------------------------

    async def schedule(
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
        queue_name: str | None = None,
        priority: int | None = None,
        ttl: Seconds | None = None,
        result_ttl: Seconds | None = None,
        timeout: Seconds | None = None,
        max_retries: int | None = None,
        retry_delay: Seconds | None = None,
        retry_on: Sequence[type[BaseException] | str] | None = None,
    ) -> str:
        """Run ``func`` once ``at`` a time, every ``interval``, or on a ``cron`` expression (five
        fields, or six with seconds first, read in ``timezone``); returns the schedule id.

        Runs are enqueued by the scheduler that every worker runs, exactly once each however many
        workers there are. ``start_at``/``end_at`` bound the runs and ``max_runs`` counts them. A run
        missed while no scheduler ran is made once, late; the next is computed from then.
        """
        await self.open()
        store = self._schedule_store()
        trigger = Trigger.build(
            at=at,
            interval=interval,
            cron=cron,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            max_runs=max_runs,
        )
        options = TaskOptions(
            queue_name=queue_name,
            priority=priority,
            ttl=ttl,
            result_ttl=result_ttl,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
        )
        factory = self._factory(func, options)
        payload = self.serializer.dumps([list(args), dict(func_args or {})])
        record = new_schedule(factory.record(*payload), trigger, factory.ttl, payload)
        await store.add_schedule(record)
        return record.id

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule with this id, or ``None``."""
        checked_id(schedule_id, "schedule_id")
        await self.open()
        record = await self._schedule_store().get_schedule(schedule_id)
        return None if record is None else schedule_from_record(record)

    async def list_schedules(
        self, status: ScheduleStatus | str | None = None, limit: int = 100
    ) -> list[Schedule]:
        """Schedules, oldest first, optionally of one status."""
        await self.open()
        records = await self._schedule_store().list_schedules(
            status=None if status is None else ScheduleStatus(status), limit=limit
        )
        return [schedule_from_record(record) for record in records]

    async def pause_schedule(self, schedule_id: str) -> bool:
        """Stop making runs until resumed; ``False`` if it is not active."""
        return await self._set_schedule_status(
            schedule_id, ScheduleStatus.PAUSED, (ScheduleStatus.ACTIVE,), EventType.SCHEDULE_PAUSED
        )

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Make runs again, the next one computed from now (runs missed while paused are not
        replayed); ``False`` if it is not paused."""
        return await self._set_schedule_status(
            schedule_id, ScheduleStatus.ACTIVE, (ScheduleStatus.PAUSED,), EventType.SCHEDULE_RESUMED
        )

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """End the schedule for good (its record stays, ``cancelled``); ``False`` if it already ended."""
        return await self._set_schedule_status(
            schedule_id,
            ScheduleStatus.CANCELLED,
            (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED),
            EventType.SCHEDULE_CANCELLED,
        )

    async def _set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: tuple[ScheduleStatus, ...],
        kind: EventType,
    ) -> bool:
        checked_id(schedule_id, "schedule_id")
        await self.open()
        store = self._schedule_store()
        current = await store.get_schedule(schedule_id)
        if current is None:
            raise UnknownScheduleError(schedule_id)
        next_run_at = None
        now = time.time()
        if status is ScheduleStatus.ACTIVE:
            next_run_at = decode_schedule_spec(current.data).trigger.resumed_run(now, current.runs)
            if next_run_at is None:
                status = ScheduleStatus.FINISHED
        change = await store.set_schedule_status(
            schedule_id, status, next_run_at=next_run_at, now=now, from_statuses=from_statuses
        )
        if change is None or not change.changed:
            return False
        self.recorder.record(schedule_event(change.schedule, kind, now))
        return True

    def _schedule_store(self) -> BaseScheduleStore:
        store = self.task_queue
        require(store, Capability.SCHEDULES, "schedules")
        assert isinstance(store, BaseScheduleStore)
        return store

    def _admin(self, needed_for: str) -> TaskAdmin:
        """The task queue as its ``admin`` capability; :class:`CapabilityError` if it has none."""
        store = self.task_queue
        require(store, Capability.ADMIN, needed_for)
        assert isinstance(store, TaskAdmin)
        return store

    async def events(
        self,
        task_id: str | None = None,
        *,
        types: Sequence[EventType | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[TaskEvent]:
        """Stored events, oldest first (empty when event logging is off)."""
        if task_id is not None:
            checked_id(task_id)
        await self.open()
        if self.event_store is None:
            return []
        await self.recorder.flush()
        records = await self.event_store.query_events(
            task_id=task_id,
            types=None if types is None else [EventType(t).value for t in types],
            since=None if since is None else since.timestamp(),
            until=None if until is None else until.timestamp(),
            limit=limit,
        )
        return [event_from_record(record) for record in records]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status."""
        await self.open()
        return await self._admin("counting tasks").count_tasks()

    # -- workers ----------------------------------------------------------------------------

    def _new_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> BaseWorker:
        """A new worker on this application's components (not started)."""
        cls = worker_class(worker_type or self.settings.default_worker)
        return cls(
            self.task_queue,
            self.result_store,
            queues=queues,
            max_workers=max_workers,
            settings=self.settings,
            functions=self.functions,
            events=self.recorder,
            callbacks=self.callbacks,
        )

    async def start_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        """Start a worker in the background of this event loop (one per application)."""
        if self._worker is not None:
            raise RuntimeError("this application already runs a worker; stop_worker() it first")
        await self.open()
        worker = self._new_worker(worker_type, max_workers=max_workers, queues=queues)
        await worker.start()
        self._worker = worker

    async def stop_worker(self, grace: float | None = None) -> None:
        """Stop the background worker: running tasks get ``grace`` seconds (``None``: all the time
        they need); unfinished ones go back to the queue."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop(grace)

    async def run_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Run a worker until SIGINT/SIGTERM (graceful stop) or until :meth:`stop_worker`."""
        await self.start_worker(worker_type, max_workers=max_workers, queues=queues)
        worker = self._worker
        assert worker is not None
        handled: list[signal.Signals] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, worker.on_stop_signal)
                handled.append(signum)
        try:
            await worker.run()
        finally:
            for signum in handled:
                asyncio.get_running_loop().remove_signal_handler(signum)
            if self._worker is worker:
                self._worker = None

    def request_worker_stop(self, *, force: bool = False) -> None:
        """Ask a running worker to stop: gracefully, or with ``force`` releasing running tasks at
        once (safe from signal handlers in the loop)."""
        if self._worker is not None:
            self._worker.request_stop(force=force)

    def _on_stop_signal(self) -> None:
        if self._worker is not None:
            self._worker.on_stop_signal()

    # -- internals --------------------------------------------------------------------------

    def _component(
        self,
        ref: str | BaseComponent | SyncTaskQueue | SyncResultStorage | SyncEventStorage,
        role: type[Any],
        label: str,
    ) -> Any:
        if isinstance(ref, SyncTaskQueue | SyncResultStorage | SyncEventStorage):
            ref = ref.aio  # a blocking component: the application drives its async object
        if isinstance(ref, str):
            component = self._owned.get(ref)
            if component is None:
                component = open_url(ref)
                self._owned[ref] = component
        else:
            component = ref
        if not isinstance(component, role):
            shown = mask_url(ref) if isinstance(ref, str) else repr(ref)
            raise ConfigurationError(f"{shown} cannot serve as {label}")
        component.use_settings(self.settings)
        return component

    def _event_store_ref(
        self, url: str | None, event_store: EventStoreRef | Literal[False] | None, queue_url: str
    ) -> EventStoreRef | None:
        if event_store is False:
            return None
        if event_store is not None:
            return event_store
        if url is not None:
            return url
        configured = self.settings.event_storage_url
        if configured is not None and configured.lower() == EVENTS_OFF:
            return None
        return configured or queue_url

    def _components(self) -> list[BaseComponent]:
        unique: dict[int, BaseComponent] = {}
        for component in (self.task_queue, self.result_store, self.event_store):
            if component is not None:
                unique.setdefault(id(component), component)
        return list(unique.values())

    def _local_function(self, func: TaskRef, name: str) -> Callable[..., Any] | None:
        """The function a call will run, if this process has it without importing anything: the
        callable given, or a function registered under ``name``."""
        if callable(func):
            return cast(Callable[..., Any], getattr(func, "__omniq_function__", func))
        return self.functions.registered(name)

    def _factory(self, func: TaskRef, options: TaskOptions) -> RecordFactory:
        default_options = getattr(func, "default_options", None)
        if isinstance(default_options, TaskOptions):
            options = default_options.merged(options)
        name = func if isinstance(func, str) else function_name(func)
        return RecordFactory(name, options, self.settings, time.time())

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


def _final_statuses(status: TaskStatus | str | Sequence[TaskStatus | str]) -> list[TaskStatus]:
    """The final statuses ``status`` names (one, or several), each once, in the order given."""
    names = [status] if isinstance(status, str) else list(status)
    finals = {final.value: final for final in FINAL_STATUSES}
    if not names:
        raise ValidationError("status", "name at least one status")
    chosen: dict[TaskStatus, None] = {}
    for name in names:
        final = finals.get(name.value if isinstance(name, TaskStatus) else name)
        if final is None:
            raise ValidationError(
                "status", f"{name!r} is not a final status; purge one of: {', '.join(finals)}"
            )
        chosen[final] = None
    return list(chosen)


def shown_stores(app: AsyncOmniQ) -> dict[str, str | None]:
    """The application's stores by role (``task_queue``, ``result_store``, ``event_store``), each as
    the URI it was built from with the password masked, else as its ``repr``; ``None`` for a store
    turned off."""
    urls = {id(component): mask_url(ref) for ref, component in app._owned.items() if not ref.startswith("#")}
    stores = {"task_queue": app.task_queue, "result_store": app.result_store, "event_store": app.event_store}
    return {
        role: None if component is None else urls.get(id(component), repr(component))
        for role, component in stores.items()
    }


def _stores_repr(app: AsyncOmniQ) -> str:
    return ", ".join(f"{role}={shown}" for role, shown in shown_stores(app).items())
