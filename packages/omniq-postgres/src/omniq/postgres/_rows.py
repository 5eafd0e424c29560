"""Records to statement parameters and rows back to records, cheaply: these run for every task moved.

Batches of records travel as one JSON array (msgspec encodes a list of structs in one C call; the
server expands it with ``json_to_recordset``), so a batch of any size is one prepared statement
with one parameter. Times survive exactly: msgspec writes the shortest decimal that reads back as
the same double, and PostgreSQL reads it correctly rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.records import EventRecord, ResultRecord, TaskRecord

__all__ = [
    "EVENT_COLUMNS",
    "RESULT_COLUMNS",
    "TASK_COLUMNS",
    "event_from_row",
    "events_json",
    "result_from_row",
    "results_json",
    "task_from_row",
    "tasks_json",
]

#: The task columns in the order of ``TaskRecord``'s fields (a test checks that they stay so).
TASK_COLUMNS = (
    "id, queue, func, priority, status, due_at, created_at, updated_at, expires_at, attempts, "
    "max_attempts, data, dedup_key, depends_on, schedule_id, lease_token, lease_expires_at, worker_id, error"
)
RESULT_COLUMNS = "task_id, status, finished_at, data, expires_at, schedule_id"
EVENT_COLUMNS = "type, task_id, at, queue, worker_id, attempt, error, details"

_NO_DEPENDENCIES = "[]"
_encode_json = msgspec.json.Encoder().encode
_decode_dependencies = msgspec.json.Decoder(tuple[str, ...]).decode
# A dict lookup is several times cheaper than calling the enum.
_TASK_STATUS = {status.value: status for status in TaskStatus}
_RESULT_STATUS = {status.value: status for status in ResultStatus}


def tasks_json(records: Sequence[TaskRecord]) -> str:
    """The records as one JSON array (``data`` in base64, times as exact shortest decimals)."""
    return _encode_json(records).decode()


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


def results_json(records: Sequence[ResultRecord]) -> bytes:
    """The records as one JSON array (``data`` in base64); of several results for one task, the
    last wins (an upsert may not touch a row twice in one statement)."""
    return _encode_json(list({r.task_id: r for r in records}.values()))


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


def events_json(records: Sequence[EventRecord]) -> bytes:
    """The records as one JSON array, in order."""
    return _encode_json(records)


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
