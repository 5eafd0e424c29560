"""The execution core every worker kind shares: claim, run, heartbeat, settle, reap.

One asyncio loop drives it. Claims take up to the free capacity in one call; leases of all running
tasks are renewed by one ``heartbeat`` call per interval; outcomes are written by one background
writer that takes whatever has piled up since its last write (group commit), so a busy worker makes
one ``finish`` call per batch rather than per task. A task holds its slot until the writer takes
its outcome, not just until it returns: otherwise a store that writes slower than tasks end lets
unwritten outcomes and claims grow together without bound. The batch being written no longer holds
slots, so the next claim overlaps the write; a worker thus holds at most twice ``max_workers``
tasks. Worker kinds differ only in how they run a function: see :class:`Runner`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, TypeVar, cast

from omniq.core._exceptions import exception_message
from omniq.core.callbacks import Callbacks, TaskOutcome
from omniq.core.capabilities import Capability, capabilities_of
from omniq.core.codec import TaskSpec, decode_error, decode_spec, from_timestamp
from omniq.core.context import enter_task
from omniq.core.errors import OmniQError, PayloadError, SerializationError
from omniq.core.events import EventRecorder
from omniq.core.function_policy import FunctionPolicy
from omniq.core.functions import FunctionRegistry
from omniq.core.interfaces import (
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)
from omniq.core.models import ErrorInfo, EventType, TaskStatus
from omniq.core.records import (
    LEASE_EXPIRED,
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    TaskRecord,
)
from omniq.core.schedules import Scheduler
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings
from omniq.core.worker._outage import OutageLog, is_connection_fault
from omniq.core.worker._outcomes import Settlement, dependency_results, final_result, task_event

__all__ = ["BaseWorker", "Runner"]

T = TypeVar("T")

logger = logging.getLogger("omniq.worker")

#: How often a worker purges expired results, old events and finished tasks past their retention.
PURGE_INTERVAL = 60.0

#: The most tasks of one status a worker deletes per purge call. A full batch brings the next
#: purge forward to the next reap, so a backlog goes in batches between reaps instead of in one
#: long call that would hold up lease recovery (and, on SQLite, the write lock).
PURGE_BATCH = 1000
#: How long, and how often, the token of a claim whose reply was lost is given back (see
#: ``BaseWorker._release_claims``).
RELEASE_WINDOW = 10.0
RELEASE_EVERY = 1.0

#: How long ``stop`` waits for the last writes, once every task has finished or been released,
#: without any of them succeeding (a store that keeps failing).
CLOSE_TIMEOUT = 30.0


async def _pause(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``event`` is set; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class Runner(Protocol):
    """How a worker kind runs one attempt of a task function.

    ``run`` is called inside the attempt's :class:`~omniq.core.context.TaskContext`
    (:func:`~omniq.core.context.current_task`); a runner that leaves the calling thread or process
    carries it along. When ``run`` is cancelled it must stop the call (or give up on it) before it
    returns.
    """

    async def run(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        """Run the call, raising :class:`~omniq.core.errors.TaskTimeoutError` past ``timeout``."""

    def close(self) -> None:
        """Release threads or processes."""


class BaseWorker(abc.ABC):
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
        self._runner: Runner | None = None
        self._executions: dict[str, asyncio.Task[None]] = {}
        self._leases: dict[str, TaskRecord] = {}
        self._lost: set[str] = set()
        #: Tokens of claims whose reply never arrived, with when each was sent (monotonic), to
        #: give back (see ``_release_claims``); and when they may be given back next.
        self._unreleased_claims: dict[str, float] = {}
        self._next_release = 0.0
        self._outage = OutageLog(logger, queue)
        self._settlements: list[Settlement] = []
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

    # -- claiming ---------------------------------------------------------------------------

    async def _claim_forever(self) -> None:
        settings = self.settings
        failures = 0
        while not self._stopping.is_set():
            free = self.max_workers - len(self._executions) - len(self._settlements)
            if free <= 0:
                self._capacity.clear()
                await self._capacity.wait()
                continue
            if self._unreleased_claims:
                try:
                    await self._release_claims()
                except Exception as exc:  # noqa: BLE001 - a connection fault: tried again first
                    failures += 1
                    self._outage.failed("giving back a claim whose reply was lost", exc)
                    await asyncio.sleep(min(settings.poll_interval * failures, 5.0))
                    continue
            token = uuid.uuid4().hex
            now = time.time()
            try:
                records = await self.queue.claim(
                    self.queues,
                    limit=min(free, settings.claim_batch),
                    worker_id=self.worker_id,
                    lease_token=token,
                    lease_expires_at=now + settings.lease_ttl,
                    now=now,
                    write_events=self._events_travel,
                )
                failures = 0
                self._outage.succeeded()
            except asyncio.CancelledError:
                self._unreleased_claims[token] = time.monotonic()
                raise
            except Exception as exc:  # noqa: BLE001 - whatever fails, the worker claims again
                self._unreleased_claims[token] = time.monotonic()
                failures += 1
                self._outage.failed("claim", exc)
                await asyncio.sleep(min(settings.poll_interval * failures, 5.0))
                continue
            if not records:
                await self._idle()
                continue
            for record in records:
                self._leases[record.id] = record
                self._executions[record.id] = asyncio.create_task(self._attempt(record))

    async def _release_claims(self, *, last: bool = False) -> None:
        """Give back the tasks of claims whose reply never arrived (the call failed or was
        cancelled but may have been applied): this worker never saw them, so without this they
        would wait out their lease and lose an attempt without running.

        A claim still queued at the server when its token is first given back lands later, so
        each token is given back again, at most once per ``RELEASE_EVERY`` seconds, until
        ``RELEASE_WINDOW`` seconds (or the lease, if shorter) after it was sent; ``last`` gives
        back every token once more and forgets them. A connection fault is raised (the tokens are
        kept); any other error is logged and that token dropped: its tasks' leases run out.
        """
        started = time.monotonic()
        if not last and started < self._next_release:
            return
        self._next_release = started + RELEASE_EVERY
        window = min(RELEASE_WINDOW, self.settings.lease_ttl)
        for token, sent_at in list(self._unreleased_claims.items()):
            done = last or started - sent_at >= window
            try:
                released = await self.queue.release_claim(token, time.time())
            except Exception as exc:
                if is_connection_fault(exc):
                    raise
                logger.error("could not give back the tasks of a claim whose reply was lost", exc_info=exc)
                released, done = 0, True
            if released:
                logger.warning("gave back %d tasks of a claim whose reply was lost", released)
            if done:
                del self._unreleased_claims[token]

    async def _idle(self) -> None:
        """Wait for work to arrive, but no longer than until the worker is asked to stop."""
        arrival = asyncio.ensure_future(self.queue.wait_for_tasks(self.queues, self.settings.poll_interval))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((arrival, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrival.cancel()
            stopping.cancel()
        if arrival.done() and not arrival.cancelled() and arrival.exception() is not None:
            # A broken wake-up channel must not turn idling into a busy loop of failing claims.
            error = arrival.exception()
            assert error is not None
            self._outage.failed("waiting for tasks", error)
            await _pause(self._stopping, self.settings.poll_interval)

    # -- running ----------------------------------------------------------------------------

    async def _attempt(self, record: TaskRecord) -> None:
        try:
            await self._run_attempt(record)
        finally:
            if self._executions.get(record.id) is asyncio.current_task():
                del self._executions[record.id]
            self._lost.discard(record.id)
            self._capacity.set()

    async def _run_attempt(self, record: TaskRecord) -> None:
        if record.expires_at is not None and record.expires_at <= time.time():
            # The claim compared the TTL with the time the worker asked at; a claim that waited
            # (for a lock, a slow round trip) may hand over a task whose TTL has passed since.
            self._settle(Settlement.expired(record))
            return
        try:
            spec = decode_spec(record)
            func = self.functions.resolve(record.func)
            args, kwargs = _call_arguments(
                record.id, self.serializer.loads(spec.payload_format, spec.payload)
            )
        except Exception as exc:  # noqa: BLE001 - whatever stops a task from starting kills it
            logger.error("task %s cannot run and goes to dead: %s", record.id, exc)
            self._fail(record, None, exc, started_at=None, retryable=False)
            return
        started_at = time.time()
        if not self._events_travel:  # else the claim wrote it
            self.events.record(task_event(record, EventType.EXECUTING, started_at))
        assert self._runner is not None
        # This attempt runs in a task of its own, so the context needs no reset: it ends with it.
        enter_task(record)
        try:
            value = await self._runner.run(func, args, kwargs, spec.timeout)
        except asyncio.CancelledError:
            if record.id not in self._lost:
                self._settle(Settlement.release(record))
            return
        except BaseException as exc:  # noqa: BLE001 - SystemExit or gevent.Timeout from a task too
            # Caught here, in the attempt's own task: escaping it, SystemExit or KeyboardInterrupt
            # would stop the worker's event loop.
            self._fail(record, spec, exc, started_at=started_at)
            return
        try:
            value_format, encoded = self.serializer.dumps(value)
        except SerializationError as exc:  # the value is the problem; running again cannot help
            self._fail(record, spec, exc, started_at=started_at, retryable=False)
            return
        self._settle(
            Settlement.success(
                record, spec, value_format=value_format, value=encoded, returned=value, started_at=started_at
            )
        )

    def _fail(
        self,
        record: TaskRecord,
        spec: TaskSpec | None,
        exc: BaseException,
        *,
        started_at: float | None,
        retryable: bool = True,
    ) -> None:
        """Settle a failed attempt; if even that fails (a ``retry_on`` check or an error that
        cannot be described), the task goes to dead with the reason: it must not stay running."""
        try:
            settlement = Settlement.failure(record, spec, exc, started_at=started_at, retryable=retryable)
        except Exception as broken:  # anything here would leave the task running
            logger.exception("task %s: its failure could not be recorded; it goes to dead", record.id)
            why = f"{type(broken).__name__}: {exception_message(broken)}"
            reason = OmniQError(f"the task failed and its failure could not be recorded ({why})")
            settlement = Settlement.failure(record, None, reason, started_at=started_at, retryable=False)
        self._settle(settlement)

    # -- settling ---------------------------------------------------------------------------

    def _settle(self, settlement: Settlement) -> None:
        self._settlements.append(settlement)
        self._unwritten += 1
        self._settle_wake.set()

    async def _settle_forever(self) -> None:
        while not (self._closing.is_set() and not self._settlements):
            await self._settle_wake.wait()
            self._settle_wake.clear()
            await self._write_settlements()

    async def _write_settlements(self) -> None:
        """Write everything settled so far: outcomes, and the results of the accepted ones."""
        while self._settlements:
            batch, self._settlements = self._settlements, []
            self._capacity.set()
            outcomes = [s.outcome for s in batch]
            results = [s.result for s in batch if s.result is not None]
            events = [event for s in batch for event in s.events] if self._events_travel else []
            report = await self._retrying("finish", self._finish, outcomes, results, events)
            accepted = set(report.accepted)
            if report.waited_on:
                await self._resolve_dependencies(report.waited_on)
            for settlement in batch:
                task_id = settlement.outcome.task_id
                held = self._leases.get(task_id)
                if held is not None and held.lease_token == settlement.outcome.lease_token:
                    del self._leases[task_id]
                if task_id in accepted:
                    if not self._events_travel:  # else the finish wrote them
                        self.events.record_many(settlement.events)
                    self.completed_count += 1
                    self._call_back(settlement)
                else:
                    logger.warning("task %s: lease lost before it settled; outcome discarded", task_id)
            self._unwritten -= len(batch)
            self._last_write = asyncio.get_running_loop().time()

    async def _resolve_dependencies(self, task_ids: list[str]) -> None:
        """Release or cancel the tasks waiting on ``task_ids`` (a crash before this is made good by
        the next reap)."""
        now = time.time()
        report = await self._retrying("resolve_dependencies", self.queue.resolve_dependencies, task_ids, now)
        await self._store_dependency_results(report, now)

    async def _store_dependency_results(self, report: DependencyReport, now: float) -> None:
        results = dependency_results(report, self.events.record, now)
        store = self.result_store
        if results and store is not None:
            await self._retrying("put_results", store.put_results, results)

    def _call_back(self, settlement: Settlement) -> None:
        """Start the callbacks of a stored outcome, if the task or the application has any."""
        outcome = settlement.outcome
        if outcome.status in (TaskStatus.PENDING, TaskStatus.EXPIRED):
            # Released by a stopping worker, or never started: the reaper's expiry calls no one back.
            return
        retry_at = None if outcome.due_at is None else from_timestamp(outcome.due_at)
        self._dispatch(settlement.record, settlement.spec, settlement.returned, settlement.error, retry_at)

    def _dispatch(
        self,
        record: TaskRecord,
        spec: TaskSpec | None,
        value: Any,
        error: ErrorInfo | None,
        retry_at: datetime | None,
    ) -> None:
        per_task = spec.callbacks if spec is not None else ()
        if not self.callbacks.wanted(per_task):
            return
        kinds = ["success"] if error is None else ["failure", "dead" if retry_at is None else "retry"]
        for kind in kinds:
            outcome = TaskOutcome(
                kind=kind,
                task_id=record.id,
                func=record.func,
                queue=record.queue,
                attempt=record.attempts,
                max_attempts=record.max_attempts,
                worker_id=record.worker_id,
                value=value,
                error=error,
                retry_at=retry_at if kind == "retry" else None,
            )
            self.callbacks.dispatch(outcome, per_task, self.functions, self.events)

    async def _finish(
        self, outcomes: list[Outcome], results: list[ResultRecord], events: list[EventRecord]
    ) -> FinishReport:
        store = self.result_store
        if store is None or not results:
            return await self.queue.finish(outcomes, events=events)
        if store is cast(object, self.queue):  # one backend: one transaction where it can
            return await self.queue.finish_with_results(outcomes, results, events=events)
        report = await self.queue.finish(outcomes, events=events)
        accepted = set(report.accepted)
        kept = [result for result in results if result.task_id in accepted]
        if kept:
            await self._retrying("put_results", store.put_results, kept)
        return report

    async def _retrying(self, what: str, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Call until it succeeds: a settled outcome must not be dropped while the worker lives."""
        failures = 0
        while True:
            try:
                value = await call(*args)
            except Exception as exc:  # noqa: BLE001 - retried until the worker stops
                failures += 1
                self._outage.failed(what, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
            else:
                self._outage.succeeded()
                return value

    # -- leases -----------------------------------------------------------------------------

    async def _heartbeat_forever(self) -> None:
        interval = self.settings.effective_heartbeat_interval
        while not await self._until_heartbeat(interval):
            leases = [(task_id, record.lease_token or "") for task_id, record in self._leases.items()]
            if not leases:
                continue
            now = time.time()
            try:
                lost = await self.queue.heartbeat(
                    leases, lease_expires_at=now + self.settings.lease_ttl, now=now
                )
            except Exception as exc:  # noqa: BLE001 - beats again at the next interval
                self._outage.failed("heartbeat", exc)
                continue
            self._outage.succeeded()
            for task_id in lost:
                self._give_up(task_id)

    async def _until_heartbeat(self, interval: float) -> bool:
        """Wait ``interval`` seconds, or less if a pushed cancellation asks for a heartbeat now;
        whether the worker is closing."""
        check = asyncio.ensure_future(self._lease_check.wait())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait((check, closing), timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            check.cancel()
            closing.cancel()
        # Cleared before the heartbeat: a push that arrives during it asks for the next one.
        self._lease_check.clear()
        return self._closing.is_set()

    async def _watch_cancellations(self) -> None:
        """Have the store push cancellations of this worker's tasks, where it can: the heartbeat
        that confirms them follows at once instead of at its interval."""
        self._cancel_watch = contextlib.AsyncExitStack()
        try:
            await self._cancel_watch.enter_async_context(
                self.queue.watch_cancellations(self.worker_id, self._cancel_pushed)
            )
        except Exception:
            logger.warning(
                "cannot watch for cancellations; they stop tasks at the next heartbeat", exc_info=True
            )

    async def _unwatch_cancellations(self) -> None:
        try:
            await self._cancel_watch.aclose()
        except Exception:
            logger.warning("stopping the watch for cancellations failed", exc_info=True)

    def _cancel_pushed(self, task_id: str) -> None:
        """The store says it cancelled ``task_id``: if this worker runs it, heartbeat now (the
        heartbeat confirms it, so a stale or mistaken push stops nothing)."""
        if task_id in self._leases:
            self._lease_check.set()

    def _give_up(self, task_id: str) -> None:
        execution = self._executions.get(task_id)
        if execution is None:
            # Settled here, its outcome not yet written (or written while the heartbeat was in
            # flight): the write itself learns whether the lease still held.
            return
        record = self._leases.pop(task_id, None)
        if record is None:
            return
        logger.warning("task %s: lease lost (cancelled or reclaimed); stopping it", task_id)
        self.events.record(task_event(record, EventType.LEASE_LOST, time.time()))
        if execution is not None:
            self._lost.add(task_id)
            execution.cancel()

    # -- recovery ---------------------------------------------------------------------------

    async def _reap_forever(self, first: ReapReport | None) -> None:
        interval = min(self.settings.lease_ttl / 2, 5.0)
        last_purge = 0.0
        backlog = False
        if first is not None:
            try:
                await self._record_reaped(first)
            except Exception as exc:  # noqa: BLE001 - the loop below goes on regardless
                self._outage.failed("reap", exc)
        # Jitter spreads the reapers of many workers over the interval.
        while not await _pause(self._stopping, interval * random.uniform(0.75, 1.25)):  # noqa: S311
            now = time.time()
            report = await self._reap(now)
            try:
                if report is not None:
                    await self._record_reaped(report)
                if backlog or now - last_purge >= PURGE_INTERVAL:
                    last_purge = now
                    backlog = await self._purge(now)
            except Exception as exc:  # noqa: BLE001 - tries again at the next interval
                self._outage.failed("reap", exc)

    async def _reap(self, now: float) -> ReapReport | None:
        try:
            report = await self.queue.reap(now)
        except Exception as exc:  # noqa: BLE001 - reaps again at the next interval
            self._outage.failed("reap", exc)
            return None
        self._outage.succeeded()
        return report

    async def _schedule_forever(self, scheduler: Scheduler) -> None:
        interval = self.settings.scheduler_interval
        while not await _pause(self._stopping, interval * random.uniform(0.9, 1.1)):  # noqa: S311
            try:
                await scheduler.tick()
            except Exception as exc:  # noqa: BLE001 - ticks again at the next interval
                self._outage.failed("scheduler tick", exc)

    async def _record_reaped(self, report: ReapReport) -> None:
        now = time.time()
        for record in report.requeued:
            self.events.record(task_event(record, EventType.RETRY, now, details={"reason": "lease expired"}))
            self._dispatch(record, _spec_or_none(record), None, LEASE_EXPIRED, from_timestamp(record.due_at))
        for record in report.dead:
            self.events.record(task_event(record, EventType.DEAD, now, error=record.error))
            self._dispatch(
                record, _spec_or_none(record), None, decode_error(record.error) or LEASE_EXPIRED, None
            )
        for record in report.expired:
            self.events.record(task_event(record, EventType.EXPIRED, now))
        await self._store_dependency_results(report.dependencies, now)
        finals = (final_result(record, now) for record in [*report.dead, *report.expired])
        results = [result for result in finals if result is not None]
        store = self.result_store
        if results and store is not None:
            await self._retrying("put_results", store.put_results, results)

    async def _purge(self, now: float) -> bool:
        """Purge expired results, old events and a batch of finished tasks past their retention;
        whether a batch was full (more may be due)."""
        if self.result_store is not None:
            await self.result_store.purge_results(now)
        storage = self.events.storage
        if storage is not None and self.settings.event_retention is not None:
            await storage.purge_events(now - self.settings.event_retention)
        backlog = False
        queue = self.queue
        if Capability.ADMIN not in capabilities_of(queue):  # no purges without it
            return backlog
        assert isinstance(queue, TaskAdmin)
        for status, retention in self._retentions():
            if retention is not None:
                purged = await queue.purge_tasks(status, before=now - retention, limit=PURGE_BATCH)
                backlog = backlog or purged >= PURGE_BATCH
        return backlog

    def _retentions(self) -> list[tuple[TaskStatus, float | None]]:
        kept, dead = self.settings.task_retention, self.settings.dead_retention
        finished = (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.EXPIRED)
        return [*((status, kept) for status in finished), (TaskStatus.DEAD, dead)]


def _spec_or_none(record: TaskRecord) -> TaskSpec | None:
    try:
        return decode_spec(record)
    except PayloadError:
        return None


def _call_arguments(task_id: str, decoded: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if (
        isinstance(decoded, list)
        and len(decoded) == 2
        and isinstance(decoded[0], list)
        and isinstance(decoded[1], dict)
    ):
        return tuple(decoded[0]), decoded[1]
    raise PayloadError(f"task {task_id}: arguments are not [args, kwargs]")
