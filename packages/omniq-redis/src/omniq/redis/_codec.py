"""Records to Redis values and back. These run for every task moved, so they stay plain.

Times are written with ``repr`` (the shortest text that reads back as the same float) and stored
as that text; Lua compares them as numbers but never rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from omniq.core.errors import PayloadError
from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.records import EventRecord, ResultRecord, TaskRecord, dependency_failed_error

__all__ = [
    "DEPENDENCY_FAILED",
    "decode_event",
    "decode_result",
    "decode_tasks",
    "encode_event",
    "encode_result",
    "enqueue_item",
    "number",
    "pack",
    "packed_events",
    "read_task_row",
    "task_rows",
]

_encode_json = msgspec.json.Encoder().encode
_decode_dependencies = msgspec.json.Decoder(tuple[str, ...]).decode
_encode_msgpack = msgspec.msgpack.Encoder().encode


class _StoredResult(msgspec.Struct, frozen=True, array_like=True):
    """A result as stored: a msgpack array, without the task id (the key names it)."""

    status: ResultStatus
    finished_at: float
    data: bytes
    expires_at: float | None = None
    schedule_id: str | None = None


_decode_result = msgspec.msgpack.Decoder(_StoredResult).decode


#: Core's error of a task whose dependency failed, with markers the scripts fill in.
DEPENDENCY_FAILED = dependency_failed_error("@DEP@", "@STATUS@")


def number(value: float) -> str:
    """``value`` as text that reads back as the same number."""
    return repr(value)


def pack(items: Sequence[Any]) -> bytes:
    """Items of a batch as one script argument (msgpack; the scripts unpack it with cmsgpack).

    One argument instead of thousands: redis-py encodes every argument in Python, which cost more
    than running the scripts. Items hold only text and integers: never floats, so Lua sees every
    time exactly as written, and never bytes, which Redis's cmsgpack cannot read (payloads travel
    as arguments of their own).
    """
    return _encode_msgpack(items)


def enqueue_item(r: TaskRecord) -> list[Any]:
    """One record for ``enqueue.lua``: a header, then the hash's fields but ``data``."""
    fields: list[Any] = [
        "id", r.id, "queue", r.queue, "func", r.func, "priority", r.priority, "status", r.status.value,
        "due_at", number(r.due_at), "created_at", number(r.created_at),
        "updated_at", number(r.updated_at), "attempts", r.attempts, "max_attempts", r.max_attempts,
    ]  # fmt: skip
    optional = {
        "expires_at": None if r.expires_at is None else number(r.expires_at),
        "dedup_key": r.dedup_key,
        "depends_on": _encode_json(r.depends_on).decode() if r.depends_on else None,
        "schedule_id": r.schedule_id,
        "lease_token": r.lease_token,
        "lease_expires_at": None if r.lease_expires_at is None else number(r.lease_expires_at),
        "worker_id": r.worker_id,
        "error": r.error,
    }
    for name, value in optional.items():
        if value is not None:
            fields += (name, value)
    return [
        r.id,
        r.queue,
        r.status.value,
        number(r.due_at),
        number(r.created_at),
        r.priority,
        "" if r.expires_at is None else number(r.expires_at),
        r.dedup_key or "",
        fields,
        list(r.depends_on),
    ]


_decode_rows = msgspec.msgpack.Decoder(list[list[str | bool]]).decode
_TASK_STATUS = {status.value: status for status in TaskStatus}


def decode_tasks(reply: Sequence[Any]) -> list[TaskRecord]:
    """The tasks of a script's reply (``tasks_reply`` in ``_common.lua``): their fields but ``data``
    packed in one msgpack array (``false`` where a field is unset), then each task's ``data``.

    Raises on the first row that cannot be read: callers that must go on past it read the rows
    one by one (:func:`task_rows`, :func:`read_task_row`)."""
    if not reply:
        return []
    return [_task(row, data) for row, data in zip(_decode_rows(reply[0]), reply[1:], strict=True)]


TaskRow = tuple[list[Any], bytes | None]


def task_rows(reply: Sequence[Any]) -> list[TaskRow]:
    """The rows of a script's task reply, not yet read: each is its fields and its ``data``."""
    if not reply:
        return []
    return list(zip(_decode_rows(reply[0]), reply[1:], strict=True))


def read_task_row(row: TaskRow) -> TaskRecord:
    """The task of one row of :func:`task_rows`; raises if a field cannot be read."""
    return _task(*row)


def _task(v: list[Any], data: bytes | None) -> TaskRecord:
    # Fields in TaskRecord's order; ``False`` marks an unset one.
    status = _TASK_STATUS.get(v[4])
    if status is None or v[1] is False or v[2] is False:
        raise PayloadError(_unreadable_reason(v))
    return TaskRecord(
        id=v[0],
        queue=v[1],
        func=v[2],
        priority=int(v[3]),
        status=status,
        due_at=float(v[5]),
        created_at=float(v[6]),
        updated_at=float(v[7]),
        expires_at=None if v[8] is False else float(v[8]),
        attempts=int(v[9]),
        max_attempts=int(v[10]),
        data=data or b"",
        dedup_key=None if v[12] is False else v[12],
        depends_on=_decode_dependencies(v[13]) if v[13] else (),
        schedule_id=None if v[14] is False else v[14],
        lease_token=None if v[15] is False else v[15],
        lease_expires_at=None if v[16] is False else float(v[16]),
        worker_id=None if v[17] is False else v[17],
        error=None if v[18] is False else v[18],
    )


def _unreadable_reason(v: list[Any]) -> str:
    if v[4] is False:  # no status: the scripts then put what the key holds in ``error``
        return v[18] or "the task has no status"
    if v[4] not in _TASK_STATUS:
        return f"status {v[4]!r} is not a task status"
    return "the task has no queue" if v[1] is False else "the task has no function"


def encode_result(r: ResultRecord) -> bytes:
    """A result as stored: a msgpack array of its fields but the task id (a string of up to 44
    bytes is one allocation with its key's object; a map with field names was 160 bytes for
    ``None``). The value inside is bytes only core reads."""
    return _encode_msgpack((r.status.value, r.finished_at, r.data, r.expires_at, r.schedule_id))


def decode_result(task_id: str, value: bytes) -> ResultRecord:
    """Task ``task_id``'s result stored as ``value``.

    Raises:
        PayloadError: naming the task if ``value`` is not a stored result.
    """
    try:
        v = _decode_result(value)
    except msgspec.MsgspecError as exc:
        raise PayloadError(f"the stored result of task {task_id} cannot be read: {exc}") from None
    return ResultRecord(
        task_id=task_id,
        status=v.status,
        finished_at=v.finished_at,
        data=v.data,
        expires_at=v.expires_at,
        schedule_id=v.schedule_id,
    )


def encode_event(e: EventRecord) -> list[Any]:
    """One event for ``append_events.lua``: plain stream fields, no blob."""
    fields: list[Any] = ["type", e.type, "task_id", e.task_id, "at", number(e.at), "details", e.details]
    attempt = None if e.attempt is None else str(e.attempt)
    optional = {"queue": e.queue, "worker_id": e.worker_id, "attempt": attempt, "error": e.error}
    for name, value in optional.items():
        if value is not None:
            fields += (name, value)
    return [e.task_id, number(e.at), fields]


def packed_events(events: Sequence[EventRecord]) -> bytes | str:
    """Events a transition script writes with its change (see ``_events.lua``), ``""`` for none."""
    return pack([encode_event(event) for event in events]) if events else ""


def decode_event(fields: Sequence[bytes]) -> EventRecord:
    """The event of a stream entry's field list."""
    values = {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields), 2)}
    attempt = values.get("attempt")
    return EventRecord(
        type=values["type"],
        task_id=values["task_id"],
        at=float(values["at"]),
        queue=values.get("queue"),
        worker_id=values.get("worker_id"),
        attempt=None if attempt is None else int(attempt),
        error=values.get("error"),
        details=values.get("details", "{}"),
    )
