"""Records to SQL parameters and rows back to records, cheaply: these run for every task moved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from omniq.core.models import ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.records import EventRecord, ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "CLAIMED_COLUMNS",
    "EVENT_COLUMNS",
    "RESULT_COLUMNS",
    "SCHEDULE_COLUMNS",
    "TASK_COLUMNS",
    "claimed_task_from_row",
    "event_from_row",
    "event_row",
    "result_from_row",
    "result_row",
    "schedule_from_row",
    "schedule_row",
    "task_from_row",
    "task_row",
]

#: The task columns in the order of ``TaskRecord``'s fields (a test checks that they stay so).
TASK_COLUMNS = (
    "id, queue, func, priority, status, due_at, created_at, updated_at, expires_at, attempts, "
    "max_attempts, data, dedup_key, depends_on, schedule_id, lease_token, lease_expires_at, worker_id, error"
)
#: The task columns a claim returns: those the claim itself sets (status, lease, worker, update
#: time) are left out, since the claimer knows them already; see ``claimed_task_from_row``.
CLAIMED_COLUMNS = (
    "id, queue, func, priority, due_at, created_at, expires_at, attempts, max_attempts, data, dedup_key, "
    "depends_on, schedule_id, error"
)
RESULT_COLUMNS = "task_id, status, finished_at, data, expires_at, schedule_id"
EVENT_COLUMNS = "type, task_id, at, queue, worker_id, attempt, error, details"
SCHEDULE_COLUMNS = (
    "id, func, queue, status, next_run_at, created_at, updated_at, runs, last_run_at, last_task_id, data"
)

_NO_DEPENDENCIES = "[]"
_encode_json = msgspec.json.Encoder().encode
_decode_dependencies = msgspec.json.Decoder(tuple[str, ...]).decode
# A dict lookup is several times cheaper than calling the enum.
_TASK_STATUS = {status.value: status for status in TaskStatus}
_RESULT_STATUS = {status.value: status for status in ResultStatus}


def task_row(r: TaskRecord) -> tuple[Any, ...]:
    """``r`` as parameters for ``TASK_COLUMNS``."""
    dependencies = _encode_json(r.depends_on).decode() if r.depends_on else _NO_DEPENDENCIES
    return (
        r.id, r.queue, r.func, r.priority, r.status.value, r.due_at, r.created_at, r.updated_at,
        r.expires_at, r.attempts, r.max_attempts, r.data, r.dedup_key, dependencies, r.schedule_id,
        r.lease_token, r.lease_expires_at, r.worker_id, r.error,
    )  # fmt: skip


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    """The record of a row that starts with ``TASK_COLUMNS`` (later columns are ignored)."""
    dependencies = row[13]
    return TaskRecord(
        id=row[0],
        queue=row[1],
        func=row[2],
        priority=row[3],
        status=_TASK_STATUS[row[4]],
        due_at=row[5],
        created_at=row[6],
        updated_at=row[7],
        expires_at=row[8],
        attempts=row[9],
        max_attempts=row[10],
        data=row[11],
        dedup_key=row[12],
        depends_on=() if dependencies == _NO_DEPENDENCIES else _decode_dependencies(dependencies),
        schedule_id=row[14],
        lease_token=row[15],
        lease_expires_at=row[16],
        worker_id=row[17],
        error=row[18],
    )


def claimed_task_from_row(
    row: Sequence[Any], lease_token: str, lease_expires_at: float, worker_id: str, now: float
) -> TaskRecord:
    """The record of a row that starts with ``CLAIMED_COLUMNS``, returned by a claim that set
    these values: a claim returns thousands of rows a second, and each value SQLite hands back
    is one more Python object made while holding the GIL."""
    dependencies = row[11]
    return TaskRecord(
        id=row[0],
        queue=row[1],
        func=row[2],
        priority=row[3],
        status=TaskStatus.RUNNING,
        due_at=row[4],
        created_at=row[5],
        updated_at=now,
        expires_at=row[6],
        attempts=row[7],
        max_attempts=row[8],
        data=row[9],
        dedup_key=row[10],
        depends_on=() if dependencies == _NO_DEPENDENCIES else _decode_dependencies(dependencies),
        schedule_id=row[12],
        lease_token=lease_token,
        lease_expires_at=lease_expires_at,
        worker_id=worker_id,
        error=row[13],
    )


def result_row(r: ResultRecord) -> tuple[Any, ...]:
    """``r`` as parameters for ``RESULT_COLUMNS``."""
    return (r.task_id, r.status.value, r.finished_at, r.data, r.expires_at, r.schedule_id)


def result_from_row(row: Sequence[Any]) -> ResultRecord:
    """The record of a row of ``RESULT_COLUMNS``."""
    return ResultRecord(
        task_id=row[0],
        status=_RESULT_STATUS[row[1]],
        finished_at=row[2],
        data=row[3],
        expires_at=row[4],
        schedule_id=row[5],
    )


def event_row(r: EventRecord) -> tuple[Any, ...]:
    """``r`` as parameters for ``EVENT_COLUMNS``."""
    return (r.type, r.task_id, r.at, r.queue, r.worker_id, r.attempt, r.error, r.details)


def event_from_row(row: Sequence[Any]) -> EventRecord:
    """The record of a row of ``EVENT_COLUMNS``."""
    return EventRecord(
        type=row[0],
        task_id=row[1],
        at=row[2],
        queue=row[3],
        worker_id=row[4],
        attempt=row[5],
        error=row[6],
        details=row[7],
    )


def schedule_row(r: ScheduleRecord) -> tuple[Any, ...]:
    """``r`` as parameters for ``SCHEDULE_COLUMNS``."""
    return (
        r.id, r.func, r.queue, r.status.value, r.next_run_at, r.created_at, r.updated_at, r.runs,
        r.last_run_at, r.last_task_id, r.data,
    )  # fmt: skip


def schedule_from_row(row: Sequence[Any]) -> ScheduleRecord:
    """The record of a row of ``SCHEDULE_COLUMNS``."""
    return ScheduleRecord(
        id=row[0],
        func=row[1],
        queue=row[2],
        status=ScheduleStatus(row[3]),
        next_run_at=row[4],
        created_at=row[5],
        updated_at=row[6],
        runs=row[7],
        last_run_at=row[8],
        last_task_id=row[9],
        data=row[10],
    )
