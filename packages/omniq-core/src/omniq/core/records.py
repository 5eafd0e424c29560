"""What backends store: plain indexed fields plus bytes that only core reads.

These structs are the whole data contract between core and a backend. Times are float seconds since
the epoch (cheap to compare and to index on every engine); ``data`` fields are encoded by core and
must be stored and returned byte for byte; ``error`` and ``details`` are JSON text so that a human
reading the database sees them plainly.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence

import msgspec

from omniq.core.models import ErrorInfo, ResultStatus, ScheduleStatus, TaskStatus

__all__ = [
    "CLAIMABLE_STATUSES",
    "FINAL_STATUSES",
    "LEASE_EXPIRED",
    "LEASE_EXPIRED_ERROR",
    "LIVE_STATUSES",
    "DependencyReport",
    "EventRecord",
    "FinishReport",
    "Outcome",
    "ReapReport",
    "ResultRecord",
    "ScheduleChange",
    "ScheduleRecord",
    "ScheduleRun",
    "TaskChange",
    "TaskRecord",
    "claim_order",
    "dependency_failed_error",
    "events_about",
    "executing_event",
    "live_result",
]

#: Statuses a claim may take a task from (``failed`` means: waiting for its retry).
CLAIMABLE_STATUSES: tuple[TaskStatus, ...] = (TaskStatus.PENDING, TaskStatus.FAILED)

#: Statuses that hold a dedup key: the task may still run.
LIVE_STATUSES: tuple[TaskStatus, ...] = (
    TaskStatus.PENDING,
    TaskStatus.WAITING,
    TaskStatus.RUNNING,
    TaskStatus.FAILED,
)

#: Statuses a task never leaves on its own; a dependency in any but ``completed`` fails its dependents.
FINAL_STATUSES: tuple[TaskStatus, ...] = (
    TaskStatus.COMPLETED,
    TaskStatus.DEAD,
    TaskStatus.CANCELLED,
    TaskStatus.EXPIRED,
)

#: Why a task's lease expired, the one text for every backend and the worker: the error of a task
#: that ``reap`` sends to ``dead`` (its last attempt), and of the retry of one it requeues.
LEASE_EXPIRED = ErrorInfo(
    type="omniq.LeaseExpired",
    message="the worker running the task stopped renewing its lease (it crashed or was killed)",
)

#: :data:`LEASE_EXPIRED` as the JSON text a backend stores in ``error``.
LEASE_EXPIRED_ERROR = msgspec.json.encode(LEASE_EXPIRED).decode()


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One task as a backend stores it.

    Claim order: ``queue`` in the order the worker lists them, then ``priority`` (higher first),
    then ``due_at``, then insertion order (backends keep a sequence number of their own).
    A task is claimable when its status is in :data:`CLAIMABLE_STATUSES`, ``due_at <= now`` and
    ``expires_at`` is unset or later than now.
    """

    id: str
    queue: str
    func: str
    priority: int
    status: TaskStatus
    due_at: float
    created_at: float
    updated_at: float
    expires_at: float | None = None
    attempts: int = 0
    max_attempts: int = 1
    data: bytes = b""
    dedup_key: str | None = None
    depends_on: tuple[str, ...] = ()
    schedule_id: str | None = None
    lease_token: str | None = None
    lease_expires_at: float | None = None
    worker_id: str | None = None
    error: str | None = None


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a worker settles an attempt; accepted only while ``lease_token`` is the current lease.

    ``status`` is ``completed``, ``failed`` (run again at ``due_at``), ``dead``, ``cancelled``,
    ``expired`` (claimed after its TTL had passed, so not run), or ``pending``: released
    unfinished by a stopping worker, due at ``due_at``, with the attempt the claim counted given
    back (``attempts - 1``). Settling clears the lease.
    """

    task_id: str
    lease_token: str
    status: TaskStatus
    at: float
    due_at: float | None = None
    error: str | None = None


class FinishReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a ``finish`` settled.

    ``accepted``: the ids of the outcomes accepted (their token was the current lease), in outcome
    order, each once. ``waited_on``: those of them now final with tasks waiting on them, whose
    dependencies the worker then resolves; a backend that cannot tell cheaply lists every accepted
    final one (:meth:`assume_waited`), and ``resolve_dependencies`` sorts it out.
    """

    accepted: list[str] = msgspec.field(default_factory=list)
    waited_on: list[str] = msgspec.field(default_factory=list)

    @classmethod
    def settled(
        cls, outcomes: Sequence[Outcome], settled: Iterable[str], waited: Container[str] = ()
    ) -> FinishReport:
        """The report of a finish that changed the tasks ``settled``, of which those in
        ``waited`` have dependents. Of two outcomes for one task only the first counts (the
        second found its lease already settled)."""
        left = set(settled)
        accepted = []
        waited_on = []
        for outcome in outcomes:
            if outcome.task_id in left:
                left.discard(outcome.task_id)
                accepted.append(outcome.task_id)
                if outcome.status in FINAL_STATUSES and outcome.task_id in waited:
                    waited_on.append(outcome.task_id)
        return cls(accepted=accepted, waited_on=waited_on)

    @classmethod
    def assume_waited(cls, outcomes: Sequence[Outcome], settled: Iterable[str]) -> FinishReport:
        """The report of a finish that does not know which tasks have dependents."""
        return cls.settled(outcomes, settled, _EVERY_ID)


class _EveryId:
    def __contains__(self, item: object) -> bool:
        return True


_EVERY_ID = _EveryId()


class DependencyReport(msgspec.Struct, frozen=True, kw_only=True):
    """What resolving dependencies changed.

    ``released``: ``waiting`` tasks whose every dependency has completed, now ``pending``.
    ``cancelled``: ``waiting`` tasks cancelled because a dependency (or, down the graph, one of its
    dependencies) ended ``dead``, ``cancelled`` or ``expired``; their ``error`` is
    :func:`dependency_failed_error`.
    """

    released: list[TaskRecord] = msgspec.field(default_factory=list)
    cancelled: list[TaskRecord] = msgspec.field(default_factory=list)


class ReapReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``reap`` changed, so that core can record events and results for it.

    ``requeued``: running tasks whose lease expired with attempts left, made claimable now.
    ``dead``: running tasks whose lease expired on their last attempt (error
    :data:`LEASE_EXPIRED_ERROR`). ``expired``: tasks whose TTL passed before they started.
    """

    requeued: list[TaskRecord] = msgspec.field(default_factory=list)
    dead: list[TaskRecord] = msgspec.field(default_factory=list)
    expired: list[TaskRecord] = msgspec.field(default_factory=list)
    #: What resolving the dependencies of final tasks changed (see ``DependencyReport``): the
    #: reaper also finishes what a crash left half done.
    dependencies: DependencyReport = msgspec.field(default_factory=DependencyReport)


def claim_order(record: TaskRecord, sequence: int) -> tuple[int, float, int]:
    """Where a ready task stands in its queue: higher ``priority`` first, then earlier ``due_at``, then
    the order of enqueue (``sequence``, any number that grows with each enqueue).

    Every backend claims in this order (across queues, a worker's earlier queue first); engines that
    sort in SQL or in a script index the same three keys, and the conformance suite checks the order.
    """
    return (-record.priority, record.due_at, sequence)


def dependency_failed_error(dependency_id: str, status: str) -> str:
    """The ``error`` of a task cancelled because its dependency ``dependency_id`` ended ``status``."""
    return msgspec.json.encode(
        {
            "type": "omniq.DependencyFailed",
            "message": f"dependency {dependency_id} ended {status}",
            "traceback": None,
        }
    ).decode()


class ResultRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One task's result as a backend stores it; gone once ``expires_at`` has passed."""

    task_id: str
    status: ResultStatus
    finished_at: float
    data: bytes
    expires_at: float | None = None
    schedule_id: str | None = None


def live_result(record: ResultRecord | None, now: float) -> ResultRecord | None:
    """``record`` unless its expiry has passed at ``now``.

    Engines drop expired results on their own schedule (a purge, a key expiry), so a read checks the
    expiry itself: with this one rule a result reads as gone at the same instant on every backend.
    """
    if record is None or (record.expires_at is not None and record.expires_at <= now):
        return None
    return record


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One event as plain columns; ``error`` and ``details`` are JSON text."""

    type: str
    task_id: str
    at: float
    queue: str | None = None
    worker_id: str | None = None
    attempt: int | None = None
    error: str | None = None
    details: str = "{}"


class ScheduleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One schedule as a backend stores it.

    A scheduler finds ``active`` schedules whose ``next_run_at`` has come and claims a run with
    :meth:`~omniq.core.interfaces.BaseScheduleStore.trigger_schedule`, which succeeds only while
    ``next_run_at`` still holds the value it read. ``data`` (trigger and task template) is core's.
    """

    id: str
    func: str
    queue: str
    status: ScheduleStatus
    next_run_at: float | None
    created_at: float
    updated_at: float
    runs: int = 0
    last_run_at: float | None = None
    last_task_id: str | None = None
    data: bytes = b""


class ScheduleRun(msgspec.Struct, frozen=True, kw_only=True):
    """How a triggered run changes its schedule: the next run (``None``: no more), the new status,
    and the run counters."""

    next_run_at: float | None
    status: ScheduleStatus
    runs: int
    last_run_at: float
    last_task_id: str | None


class TaskChange(msgspec.Struct, frozen=True, kw_only=True):
    """A task as ``cancel`` or ``requeue`` left it, and whether that call changed it (a task
    already final is not cancelled; only a ``dead``, ``cancelled`` or ``expired`` one is
    requeued)."""

    task: TaskRecord
    changed: bool


class ScheduleChange(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule as ``set_schedule_status`` left it, and whether that call changed it."""

    schedule: ScheduleRecord
    changed: bool


def executing_event(record: TaskRecord, at: float) -> EventRecord:
    """The ``executing`` event of a claimed task (``record`` as the claim left it), claimed at
    ``at``: what a claim told to write events stores for each task it takes. Backends that build
    the row in their own language store exactly these fields."""
    return EventRecord(
        type="executing",
        task_id=record.id,
        at=at,
        queue=record.queue,
        worker_id=record.worker_id,
        attempt=record.attempts,
    )


def events_about(events: Iterable[EventRecord], task_ids: Container[str]) -> list[EventRecord]:
    """The ``events`` about the tasks ``task_ids``, in order: what an ``enqueue`` or a ``finish``
    given events writes, for the tasks it stored or settled."""
    return [event for event in events if event.task_id in task_ids]
