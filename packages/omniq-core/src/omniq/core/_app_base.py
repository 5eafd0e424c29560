"""What every part of :class:`~omniq.core.AsyncOmniQ` stands on: its components and their lifecycle.

The application is assembled in :mod:`omniq.core.app` from one class per job (tasks, admin,
results, schedules, workers), each a subclass of :class:`AppBase`; this module builds the
components, opens and closes them, and hands out the optional capabilities the jobs need.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self

from omniq.core._wiring import default_event_store, role_component
from omniq.core.callbacks import Callbacks
from omniq.core.capabilities import Capability, require
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
from omniq.core.options import RecordFactory, TaskOptions
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings
from omniq.core.sync_components import SyncEventStorage, SyncResultStorage, SyncTaskQueue
from omniq.core.urls import mask_url
from omniq.core.worker import BaseWorker

__all__ = [
    "AppBase",
    "EventStoreRef",
    "ResultStoreRef",
    "TaskQueueRef",
    "TaskRef",
    "shown_stores",
    "stores_repr",
]

#: A task function: the function, its ``@task`` wrapper, or its name (an import path or a
#: registered name).
TaskRef = Callable[..., Any] | str
TaskQueueRef = str | BaseTaskQueue | SyncTaskQueue
ResultStoreRef = str | BaseResultStorage | SyncResultStorage
EventStoreRef = str | BaseEventStorage | SyncEventStorage


class AppBase:
    """The components of an application, their settings, and opening and closing them."""

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
        events: EventStoreRef | None = None
        if event_store is None:
            events = default_event_store(url, queue_url, self.settings)
        elif event_store is not False:
            events = event_store
        self.event_store: BaseEventStorage | None = (
            None if events is None else self._component(events, BaseEventStorage, "event storage")
        )
        self.recorder = EventRecorder(self.event_store)
        self._open_lock: asyncio.Lock | None = None
        self._opened = False
        self._worker: BaseWorker | None = None

    def _component(
        self,
        ref: str | BaseComponent | SyncTaskQueue | SyncResultStorage | SyncEventStorage,
        role: type[Any],
        label: str,
    ) -> Any:
        if isinstance(ref, SyncTaskQueue | SyncResultStorage | SyncEventStorage):
            ref = ref.aio  # a blocking component: the application drives its async object
        return role_component(ref, role, label, self._owned, self.settings)

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

    async def stop_worker(self, grace: float | None = None) -> None:
        """Stop the background worker: running tasks get ``grace`` seconds (``None``: all the time
        they need); unfinished ones go back to the queue."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop(grace)

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

    def _components(self) -> list[BaseComponent]:
        unique: dict[int, BaseComponent] = {}
        for component in (self.task_queue, self.result_store, self.event_store):
            if component is not None:
                unique.setdefault(id(component), component)
        return list(unique.values())

    def _factory(self, func: TaskRef, options: TaskOptions) -> RecordFactory:
        """The records of one call of ``func``: ``options`` over the task's own defaults."""
        default_options = getattr(func, "default_options", None)
        if isinstance(default_options, TaskOptions):
            options = default_options.merged(options)
        name = func if isinstance(func, str) else function_name(func)
        return RecordFactory(name, options, self.settings, time.time())

    # -- capabilities -----------------------------------------------------------------------

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


def shown_stores(app: AppBase) -> dict[str, str | None]:
    """The application's stores by role (``task_queue``, ``result_store``, ``event_store``), each as
    the URI it was built from with the password masked, else as its ``repr``; ``None`` for a store
    turned off."""
    urls = {id(component): mask_url(ref) for ref, component in app._owned.items() if not ref.startswith("#")}
    stores = {"task_queue": app.task_queue, "result_store": app.result_store, "event_store": app.event_store}
    return {
        role: None if component is None else urls.get(id(component), repr(component))
        for role, component in stores.items()
    }


def stores_repr(app: AppBase) -> str:
    """The stores of :func:`shown_stores` as ``role=store, ...``, for ``repr``."""
    return ", ".join(f"{role}={shown}" for role, shown in shown_stores(app).items())
