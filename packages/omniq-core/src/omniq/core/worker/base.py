"""The execution core every worker kind shares: claim, run, heartbeat, settle, reap.

One asyncio loop drives it. Claims take up to the free capacity in one call; leases of all running
tasks are renewed by one ``heartbeat`` call per interval; outcomes are written by one background
writer that takes whatever has piled up since its last write (group commit), so a busy worker makes
one ``finish`` call per batch rather than per task. A task holds its slot until the writer takes
its outcome, not just until it returns: otherwise a store that writes slower than tasks end lets
unwritten outcomes and claims grow together without bound. The batch being written no longer holds
slots, so the next claim overlaps the write; a worker thus holds at most twice ``max_workers``
tasks. Worker kinds differ only in how they run a function: see :class:`Runner`.

The parts live in their own modules (``_claiming``, ``_settling``, ``_leases``, ``_recovery``,
over the shared ``_state``); this one sets the state up and owns starting and stopping.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import ClassVar, Self

from omniq.core.callbacks import Callbacks
from omniq.core.events import EventRecorder
from omniq.core.function_policy import FunctionPolicy
from omniq.core.functions import FunctionRegistry
from omniq.core.interfaces import (
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
)
from omniq.core.schedules import Scheduler
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings
from omniq.core.worker._claiming import Claiming
from omniq.core.worker._leases import Leases
from omniq.core.worker._outage import OutageLog
from omniq.core.worker._recovery import Recovery
from omniq.core.worker._state import Runner

__all__ = ["BaseWorker", "Runner"]

logger = logging.getLogger("omniq.worker")

#: How long ``stop`` waits for the last writes, once every task has finished or been released,
#: without any of them succeeding (a store that keeps failing).
CLOSE_TIMEOUT = 30.0


class BaseWorker(Claiming, Leases, Recovery, abc.ABC):
    """Runs tasks from ``queue`` until stopped; ``async with worker:`` starts and stops it.

    Args:
        queue: where tasks are claimed.
        result_store: where results go (none: results are not kept).
        event_store: where events go (none: no events), unless ``events`` is given.
        queues: queue names in priority order: an earlier queue is always served first.
        max_workers: how many tasks run at once.
        settings: leases, polling and serialization settings.
        functions: extra task functions by name (``@oq.task`` registrations).
        events: an event recorder shared with the application.
        callbacks: the application's callbacks (per-task callbacks come with each task).
        worker_id: how events and leases name this worker.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        queue: BaseTaskQueue,
        result_store: BaseResultStorage | None = None,
        event_store: BaseEventStorage | None = None,
        *,
        queues: Sequence[str] | None = None,
        max_workers: int | None = None,
        settings: Settings | None = None,
        functions: FunctionRegistry | None = None,
        events: EventRecorder | None = None,
        callbacks: Callbacks | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        self.queue = queue
        self.result_store = result_store
        for component in (queue, result_store, event_store):
            if component is not None:
                component.use_settings(self.settings)
        self.queues = list(queues or [self.settings.default_queue])
        self.max_workers = max_workers or self.settings.max_workers
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.functions = functions or FunctionRegistry(FunctionPolicy.from_settings(self.settings))
        self.callbacks = callbacks or Callbacks()
        self.serializer = SerializationManager(
            allow_dill=self.settings.allow_dill, secret_key=self.settings.secret_key
        )
        self.events = events or EventRecorder(event_store)
        #: Whether the queue writes this worker's ``executing`` and outcome events itself, with
        #: the claim and the finish (one store for both): then they are not recorded here.
        self._events_travel = self.events.travels_with(queue)
        self._runner = None
        self._executions = {}
        self._leases = {}
        self._lost = set()
        #: Tokens of claims whose reply never arrived, with when each was sent (monotonic), to
        #: give back (see ``_release_claims``); and when they may be given back next.
        self._unreleased_claims = {}
        self._next_release = 0.0
        self._outage = OutageLog(logger, queue)
        self._settlements = []
        self._unwritten = 0
        self._last_write = 0.0
        self._settle_wake = asyncio.Event()
        self._capacity = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._settler: asyncio.Task[None] | None = None
        self._stopper: asyncio.Task[None] | None = None
        self._grace_deadline: float | None = None
        self._grace_changed = asyncio.Event()
        #: Set when the store pushed a cancellation of a task this worker holds: heartbeat now.
        self._lease_check = asyncio.Event()
        self._cancel_watch = contextlib.AsyncExitStack()
        self._started = False
        self.completed_count = 0

    @abc.abstractmethod
    def make_runner(self) -> Runner:
        """The runner for this worker kind."""

    @property
    def running(self) -> bool:
        """Whether the worker has started and not stopped."""
        return self._started

    async def start(self) -> None:
        """Open the components and start claiming in the background."""
        if self._started:
            return
        for component in {
            id(c): c for c in (self.queue, self.result_store, self.events.storage) if c
        }.values():
            await component.open()
        self._stopping = asyncio.Event()
        self._closing = asyncio.Event()
        self._settle_wake = asyncio.Event()
        self._capacity = asyncio.Event()
        self._grace_changed = asyncio.Event()
        self._grace_deadline = None
        self._lease_check = asyncio.Event()
        self._stopper = None
        self._unwritten = len(self._settlements)
        self._runner = self.make_runner()
        await self.events.start()
        await self._watch_cancellations()
        # Before the first claim: what lapsed or crashed while no worker ran is settled now, not at
        # the reaper's first turn (a task past its TTL reads as expired as soon as a worker starts).
        # Its events and results are recorded by the reaper loop.
        first_reap = await self._reap(time.time())
        self._settler = asyncio.create_task(self._settle_forever(), name="omniq-settle")
        self._loops = [
            asyncio.create_task(self._claim_forever(), name="omniq-claim"),
            asyncio.create_task(self._heartbeat_forever(), name="omniq-heartbeat"),
            asyncio.create_task(self._reap_forever(first_reap), name="omniq-reap"),
        ]
        if self.settings.scheduler and isinstance(self.queue, BaseScheduleStore):
            scheduler = Scheduler(self.queue, self.events, self.functions.resolve)
            self._loops.append(asyncio.create_task(self._schedule_forever(scheduler), name="omniq-schedule"))
        self._started = True
        logger.info("worker %s (%s) serving %s", self.worker_id, self.kind, self.queues)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let running tasks finish for ``grace`` seconds; release the rest.

        ``None`` waits for every running task. Released tasks go back to the queue at once. No
        loop is cut off in the middle of a write: each finishes what it is doing and returns, and
        everything settled is written before this returns (unless the store fails every write
        for ``CLOSE_TIMEOUT`` seconds; unwritten outcomes then come back through lease expiry).

        Calling it again while a stop is under way waits for that stop; a shorter ``grace``
        shortens the wait for running tasks (``stop(0)`` releases them at once).
        """
        if not self._started:
            return
        self._shorten_grace(grace)
        if self._stopper is None:
            self._stopper = asyncio.create_task(self._stop_sequence(), name="omniq-stop")
        await asyncio.shield(self._stopper)

    def _shorten_grace(self, grace: float | None) -> None:
        if grace is None:
            return
        deadline = asyncio.get_running_loop().time() + max(grace, 0.0)
        if self._grace_deadline is None or deadline < self._grace_deadline:
            self._grace_deadline = deadline
            self._grace_changed.set()

    async def _stop_sequence(self) -> None:
        self._stopping.set()
        self._capacity.set()
        claimer, *background = self._loops
        await claimer
        try:
            await self._release_claims(last=True)
        except Exception:
            logger.warning("could not give back the tasks of claims whose reply was lost", exc_info=True)
        await self._let_running_finish()
        self._closing.set()
        self._settle_wake.set()
        if self._settler is not None:
            background.append(self._settler)
        for task in await self._wait_while_writing(background):
            logger.error(
                "worker %s: %s made no progress for %s s; cancelled (%d outcomes unwritten)",
                self.worker_id,
                task.get_name(),
                CLOSE_TIMEOUT,
                self._unwritten,
            )
            task.cancel()
        await self._unwatch_cancellations()
        await self.callbacks.close()
        await self.events.close()
        if self._runner is not None:
            self._runner.close()
        self._started = False
        logger.info("worker %s stopped", self.worker_id)

    async def _wait_while_writing(self, loops: list[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        """Wait for ``loops`` to end as long as outcomes keep being written; the loops still
        running after ``CLOSE_TIMEOUT`` seconds without a successful write."""
        loop = asyncio.get_running_loop()
        self._last_write = loop.time()
        pending = set(loops)
        while pending:
            quiet_until = self._last_write + CLOSE_TIMEOUT
            if loop.time() >= quiet_until:
                break
            _, pending = await asyncio.wait(pending, timeout=quiet_until - loop.time())
        return pending

    async def _let_running_finish(self) -> None:
        """Wait for running tasks until the grace deadline (which may move closer), then release
        the rest: cancelled attempts settle as released, so their tasks are pending at once."""
        loop = asyncio.get_running_loop()
        while self._executions:
            remaining = None if self._grace_deadline is None else self._grace_deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            self._grace_changed.clear()
            changed = asyncio.ensure_future(self._grace_changed.wait())
            try:
                await asyncio.wait(
                    [*self._executions.values(), changed],
                    timeout=remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                changed.cancel()
        unfinished = list(self._executions.values())
        for execution in unfinished:
            execution.cancel()
        if unfinished:
            await asyncio.wait(unfinished)

    async def run(self) -> None:
        """Start, then serve until :meth:`stop` or :meth:`request_stop` (or this is cancelled);
        running tasks then get the ``shutdown_grace`` setting's time to finish."""
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.stop(self.settings.shutdown_grace)

    def request_stop(self, *, force: bool = False) -> None:
        """Ask :meth:`run` to stop gracefully, or with ``force`` to release running tasks now.

        Safe to call from a signal handler in the worker's loop: the first SIGINT or SIGTERM asks
        for a graceful stop, a second one forces it.
        """
        self._stopping.set()
        if force:
            self._shorten_grace(0.0)

    def on_stop_signal(self) -> None:
        """SIGINT or SIGTERM: the first asks for a graceful stop, the next one forces it."""
        self.request_stop(force=self._stopping.is_set())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
