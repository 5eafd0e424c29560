"""The backend contract: what a task queue, a result store and an event store must do.

The contract is small on purpose. Backends move :mod:`omniq.core.records` in and out and make each
state change atomic; core owns serialization, retries, backoff, events, scheduling and workers. A
backend class may implement one, two or all three interfaces; the method names do not overlap, so
one object (one connection) can serve every role. ``tasks/interfaces.md`` shows how each operation
maps onto SQLite, PostgreSQL, Redis, NATS JetStream and object stores.

**Events travel with their transition.** When one object is both the caller's task queue and its
event store, core hands the lifecycle events to the call that makes the transition (``events=``
of :meth:`BaseTaskQueue.enqueue`, :meth:`~BaseTaskQueue.finish`, :meth:`TaskAdmin.requeue` and
:meth:`BaseScheduleStore.trigger_schedule`, ``write_events=`` of :meth:`~BaseTaskQueue.claim`),
and the backend stores them in the same atomic step: a reader who sees a task, a running task or a
result also sees its ``enqueued``, ``executing`` or final event, and a worker killed after its
claim leaves the ``executing`` event behind. Such a call writes the events of the changes it made,
and none for a change it refused (a stale token, a deduplicated record, a repeat after a lost
reply). Core passes none to an object that is not its event store.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

from omniq.core.errors import ConfigurationError
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
from omniq.core.settings import Settings

__all__ = [
    "BaseComponent",
    "BaseEventStorage",
    "BaseResultStorage",
    "BaseScheduleStore",
    "BaseTaskQueue",
    "TaskAdmin",
]


class BaseComponent(abc.ABC):
    """Lifecycle shared by every backend component.

    ``open`` must be idempotent and cheap to call again; ``close`` releases connections and must
    be safe to call twice. ``from_url`` builds a component from its URI (the registry's entry).
    """

    #: Whether several processes may use the same store at once (a file or a server: yes;
    #: ``memory://``: no). The conformance suite runs its multi-process tests only where true.
    shared_across_processes: ClassVar[bool] = True

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """Build an unopened component from ``url`` and backend-specific options."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """Build an unopened component from a config section's ``options`` (``{type: ..., config:
        options}``), with ``settings`` for defaults such as ``base_dir`` and ``project_name``;
        ``where`` names the section in errors (``task_queue.config``).

        Backends that can be described without a URI override this, typically with
        :func:`omniq.core.backend_options.convert_options`; the default refuses.
        """
        raise ConfigurationError(
            f"{cls.__name__} cannot be configured by type and config; give its URI as url instead"
        )

    def use_settings(self, settings: Settings) -> None:
        """Take the settings that the store applies by itself, such as a time to live that the
        engine enforces (Redis: ``task_retention``). The application and workers call it with
        theirs before use; the default takes none."""
        del settings

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema if needed."""

    async def open_existing(self) -> None:
        """Connect to a store that already exists, creating nothing: what read-only tools use.

        Raises:
            omniq.core.errors.StoreNotFoundError: naming the store (a file path, a database and
                schema) if it does not exist. Backends with nothing to create (a server that holds
                keys, an in-process store) keep this default, which is :meth:`open`.
        """
        await self.open()

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

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


class BaseTaskQueue(BaseComponent):
    """Durable task state with leased, atomic claims."""

    @abc.abstractmethod
    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        """Store new tasks in one round trip where the engine allows.

        Returns, per record and in order, the id of the task that now holds its place: the record's
        own id, or, when ``dedup_key`` is set and a task in a live status holds the same key, that
        task's id (and the record is not stored). A record whose id is already stored is not
        stored again and returns its id: ids are chosen before the call, so a call repeated after
        its reply was lost never makes a second task.

        ``events`` (their ``enqueued`` events, see the module docstring): store, in the same
        atomic step, those about the records this call stored
        (:func:`~omniq.core.records.events_about`).

        A record with ``depends_on`` arrives ``waiting``. Every id it names must be a stored task,
        else nothing of the batch is stored and :class:`~omniq.core.errors.ValidationError` (field
        ``depends_on``) names the unknown ids. It is stored ``pending`` if every dependency has
        already completed, ``cancelled`` (error :func:`~omniq.core.records.dependency_failed_error`)
        if one already failed, and ``waiting`` otherwise, until :meth:`resolve_dependencies`.
        Since dependencies must exist first and never change, the graph cannot hold a cycle.
        """

    @abc.abstractmethod
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
        """Atomically take up to ``limit`` claimable tasks, in claim order, and lease them.

        Each claimed task becomes ``running`` with ``attempts`` one higher and the lease fields set;
        the returned records show that new state. No task may be returned to two claims while its
        lease is current. ``lease_token`` is chosen by the caller before the call and is the same
        for every task of the claim, so that :meth:`release_claim` finds them if the reply is lost.
        With ``write_events``, store for each claimed task, in the same atomic step, its
        :func:`~omniq.core.records.executing_event` at ``now``.
        """

    @abc.abstractmethod
    async def release_claim(self, lease_token: str, now: float) -> int:
        """Give back every task still leased under ``lease_token``; returns how many.

        A worker calls this for a claim whose reply it never got (the call failed or was
        cancelled, yet may have been applied): it has not seen those tasks and will never run
        them. Each becomes ``pending`` (claimable now) with the attempt the claim counted given
        back. Tasks that token no longer holds (settled, reclaimed after the lease ran out) are
        left alone, so calling it twice, or for a claim that took nothing, changes nothing.
        """

    @abc.abstractmethod
    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        """Extend the leases given as ``(task_id, lease_token)`` pairs in one round trip.

        Returns the ids whose lease is no longer held (reclaimed, cancelled or settled): their
        worker must stop them and discard their outcome.
        """

    @abc.abstractmethod
    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        """Settle attempts in one round trip; reports the ids whose lease token still matched and
        which of them ended final with tasks waiting on them (see :class:`FinishReport`).

        An outcome whose token does not match the task's current lease changes nothing. ``events``
        (the attempts' outcome events): store, in the same atomic step, those about the outcomes
        accepted.
        """

    async def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        """:meth:`finish`, and store the ``results`` of the outcomes it accepts.

        A worker calls this instead of ``finish`` when this object is also its result store. The
        default makes two calls, so a crash between them leaves a finished task without its
        result; engines with transactions override it to write both at once.
        """
        report = await self.finish(outcomes, events=events)
        held = set(report.accepted)
        kept = [result for result in results if result.task_id in held]
        if kept:
            if not isinstance(self, BaseResultStorage):
                raise TypeError(f"{type(self).__name__} is not a result store")
            await self.put_results(kept)
        return report

    @abc.abstractmethod
    async def reap(self, now: float) -> ReapReport:
        """Recover tasks whose lease expired and expire tasks whose TTL passed, then resolve the
        dependencies of every final task whose dependents have not been resolved yet (as
        :meth:`resolve_dependencies` does, covering a worker that died between its two calls).

        Safe to run from any number of workers at once: each change is reported by one of them.
        """

    @abc.abstractmethod
    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        """Apply the final status of these tasks to the tasks waiting on them, in one atomic step.

        A waiting task whose dependencies have all completed becomes ``pending``; a waiting task
        with a dependency that ended ``dead``, ``cancelled`` or ``expired`` becomes ``cancelled``
        (error :func:`~omniq.core.records.dependency_failed_error`), and so on down the graph.
        Ids of tasks not final, or without dependents, change nothing; calling it twice changes
        nothing the second time. Workers call it with a finish's ``waited_on`` ids, and the reaper
        covers a worker that died between the two calls.
        """

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> TaskRecord | None:
        """One task by id, in whatever status, or ``None``."""

    @abc.abstractmethod
    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        """Cancel a task that has not reached a final status; returns it as it now is, and
        whether this call cancelled it (``changed``; a task already final is left as it is).

        A running task loses its lease: its worker learns it from :meth:`watch_cancellations`
        where the store pushes (capability ``push_cancels``), else at its next heartbeat. Returns
        ``None`` for an unknown id.
        """

    def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> contextlib.AbstractAsyncContextManager[bool]:
        """Call ``on_cancel(task_id)`` when :meth:`cancel` takes a running task's lease, while
        the block runs; entering it yields whether this store pushes such calls at all.

        ``worker_id`` is the watching worker's: a store may tell only the worker the task was
        leased to, or every watcher. ``on_cancel`` is called in the event loop that entered the
        block and must not block; it may name tasks the worker does not hold (any more), so the
        worker confirms with a :meth:`heartbeat` before it stops anything. The watch is live once
        the block is entered. The default pushes nothing; overriding it declares the capability
        ``push_cancels``.
        """
        del worker_id, on_cancel
        return contextlib.nullcontext(False)

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        """Return when claimable work may have arrived, or after ``timeout`` seconds.

        The default just sleeps; engines with a push channel (LISTEN/NOTIFY, blocking pops,
        JetStream pull requests) override it so that idle workers wake without polling.
        """
        del queues
        await asyncio.sleep(timeout)


class TaskAdmin(abc.ABC):
    """Capability ``admin``: what operators and dashboards ask of the task queue (listings, counts,
    dead-letter requeue, purges). A task queue declares it by subclassing this too; without it
    core refuses ``list_tasks``, ``counts``, ``requeue`` and the purges with a
    :class:`~omniq.core.errors.CapabilityError`, and workers run as usual.
    """

    @abc.abstractmethod
    async def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        """Tasks filtered by queue and status, oldest first."""

    @abc.abstractmethod
    async def count_tasks(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status: ``{queue: {status: n}}``."""

    @abc.abstractmethod
    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        """Make a ``dead``, ``cancelled`` or ``expired`` task pending again with fresh attempts.

        Returns ``None`` for an unknown id, else the task as it now is and whether this call
        requeued it (a task in any other status is left as it is). ``events`` are stored with
        the change, and only if this call made it.
        """

    @abc.abstractmethod
    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        """Delete tasks in a final ``status`` (last changed before ``before``), at most ``limit``
        of them (any of those that match), with what the store keeps of their dependencies;
        returns how many. A finished task whose dependents are not resolved yet is kept until they
        are (``reap`` resolves them): deleted, it would leave them waiting for ever. With a
        ``limit`` the work of one call stays bounded however many tasks match: workers purge in
        such batches."""


class BaseResultStorage(BaseComponent):
    """Results by task id, deleted after their expiry."""

    @abc.abstractmethod
    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        """Store or replace results in one round trip."""

    @abc.abstractmethod
    async def get_result(self, task_id: str) -> ResultRecord | None:
        """A task's unexpired result, or ``None``."""

    @abc.abstractmethod
    async def delete_results(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks' results, if any (a requeued task starts without one)."""

    @abc.abstractmethod
    async def purge_results(self, now: float) -> int:
        """Delete results whose expiry has passed; returns how many."""

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        """The task's result once stored, or ``None`` after ``timeout`` seconds.

        The default polls with a growing interval; engines with notifications override it.
        """
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            record = await self.get_result(task_id)
            remaining = deadline - time.monotonic()
            if record is not None or remaining <= 0:
                return record
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.25)


class BaseEventStorage(BaseComponent):
    """An append-only log of task and schedule events, kept for the retention period."""

    @abc.abstractmethod
    async def append_events(self, records: Sequence[EventRecord]) -> None:
        """Store events in one round trip."""

    @abc.abstractmethod
    async def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events matching every given filter, oldest first (``since`` inclusive, ``until``
        exclusive)."""

    @abc.abstractmethod
    async def purge_events(self, before: float) -> int:
        """Delete events older than ``before``; returns how many."""


class BaseScheduleStore(BaseComponent):
    """Schedule state, kept by the task queue's backend so that a run and its task are one write.

    Core computes every time (cron, intervals, missed runs); the store keeps the state and makes
    :meth:`trigger_schedule` atomic, which is what lets any number of schedulers run at once.
    """

    @abc.abstractmethod
    async def add_schedule(self, record: ScheduleRecord) -> None:
        """Store a new schedule."""

    @abc.abstractmethod
    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """One schedule by id, or ``None``."""

    @abc.abstractmethod
    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        """Schedules, oldest first, optionally of one status."""

    @abc.abstractmethod
    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        """``active`` schedules whose ``next_run_at`` is at or before ``now``, earliest first."""

    @abc.abstractmethod
    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """Claim the run due at ``expected_next_run_at``: in one atomic step, if the schedule is
        still ``active`` with that ``next_run_at``, apply ``run``, store ``task`` (a skipped run
        has none) and ``events``; returns whether this call claimed it. Of concurrent calls for one
        run, exactly one returns ``True``."""

    @abc.abstractmethod
    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        """Move a schedule whose status is one of ``from_statuses`` to ``status`` with this
        ``next_run_at``; returns the schedule as it now is and whether this call changed it, or
        ``None`` for an unknown id."""
