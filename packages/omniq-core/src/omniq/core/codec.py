"""Conversion between the public models and the records backends store.

The task's immutable specification (arguments, timeout, retry policy, result TTL) travels as one
msgpack blob in ``TaskRecord.data``; the fields a backend filters or orders on are plain fields.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from omniq.core.errors import PayloadError
from omniq.core.models import (
    ErrorInfo,
    EventType,
    Lease,
    ResultStatus,
    RetryPolicy,
    Task,
    TaskEvent,
    TaskResult,
)
from omniq.core.records import EventRecord, ResultRecord, TaskRecord
from omniq.core.serialization import SerializationManager

__all__ = [
    "SpecTemplate",
    "TaskSpec",
    "decode_error",
    "decode_spec",
    "encode_error",
    "encode_spec",
    "event_from_record",
    "event_to_record",
    "from_timestamp",
    "result_from_record",
    "result_record",
    "task_from_record",
]


class TaskSpec(msgspec.Struct, frozen=True, array_like=True):
    """The part of a task that never changes after enqueue."""

    payload_format: str
    payload: bytes
    timeout: float | None
    retry: RetryPolicy
    result_ttl: float | None
    #: Per-task callbacks as ``(kind, import path)`` pairs.
    callbacks: tuple[tuple[str, str], ...] = ()


class _StoredResult(msgspec.Struct, frozen=True, array_like=True, kw_only=True):
    value_format: str
    value: bytes
    error: ErrorInfo | None
    attempts: int
    worker_id: str | None
    started_at: float | None


_spec_encoder = msgspec.msgpack.Encoder()
_spec_decoder = msgspec.msgpack.Decoder(TaskSpec)
_result_decoder = msgspec.msgpack.Decoder(_StoredResult)
_json_encoder = msgspec.json.Encoder()
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_details_decoder = msgspec.json.Decoder(dict[str, object])


def from_timestamp(value: float) -> datetime:
    """A float timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def _maybe_datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def encode_spec(spec: TaskSpec) -> bytes:
    """``TaskRecord.data`` for ``spec``."""
    return _spec_encoder.encode(spec)


class SpecTemplate:
    """:func:`encode_spec` for many tasks that differ only in their payload (``enqueue_many``).

    The fields after the payload are encoded once; each task then costs two byte concatenations.
    The layout is msgpack's: a 6-element array (``TaskSpec`` is array-like), the format string,
    the payload as ``bin``, then the rest. A test checks the bytes equal ``encode_spec``'s.
    """

    def __init__(
        self,
        timeout: float | None,
        retry: RetryPolicy,
        result_ttl: float | None,
        callbacks: tuple[tuple[str, str], ...],
    ) -> None:
        empty = _spec_encoder.encode(TaskSpec("", b"", timeout, retry, result_ttl, callbacks))
        # b"\x96" (array of 6), b"\xa0" (empty str), b"\xc4\x00" (empty bin), then the rest.
        assert empty[:4] == b"\x96\xa0\xc4\x00", "TaskSpec's msgpack layout changed"
        self._rest = empty[4:]
        self._heads: dict[str, bytes] = {}

    def encode(self, payload_format: str, payload: bytes) -> bytes:
        """``encode_spec(TaskSpec(payload_format, payload, ...))``, faster."""
        head = self._heads.get(payload_format)
        if head is None:
            head = self._heads[payload_format] = b"\x96" + _spec_encoder.encode(payload_format)
        size = len(payload)
        if size < 0x100:
            length = b"\xc4" + size.to_bytes(1, "big")
        elif size < 0x10000:
            length = b"\xc5" + size.to_bytes(2, "big")
        else:
            length = b"\xc6" + size.to_bytes(4, "big")
        return b"".join((head, length, payload, self._rest))


def decode_spec(record: TaskRecord) -> TaskSpec:
    """The spec stored in ``record``; :class:`PayloadError` names the task when it is corrupt."""
    try:
        return _spec_decoder.decode(record.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PayloadError(f"task {record.id}: stored task data cannot be decoded: {exc}") from exc


def encode_error(error: ErrorInfo | None) -> str | None:
    """An error as the JSON text backends store."""
    return None if error is None else _json_encoder.encode(error).decode()


def decode_error(text: str | None) -> ErrorInfo | None:
    """The error stored as JSON text; undecodable text is kept as the message."""
    if text is None:
        return None
    try:
        return _error_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ErrorInfo(type="unknown", message=text)


def task_from_record(record: TaskRecord) -> Task:
    """The public view of a stored task; a corrupt spec leaves the spec fields at their defaults."""
    try:
        spec: TaskSpec | None = decode_spec(record)
    except PayloadError:
        spec = None
    lease = None
    if record.lease_token is not None and record.worker_id is not None:
        lease = Lease(
            token=record.lease_token,
            worker_id=record.worker_id,
            expires_at=from_timestamp(record.lease_expires_at or 0.0),
        )
    extra = {}
    if spec is not None:
        extra = {
            "payload": spec.payload,
            "payload_format": spec.payload_format,
            "timeout": spec.timeout,
            "retry": spec.retry,
            "result_ttl": spec.result_ttl,
        }
    return Task(
        id=record.id,
        func=record.func,
        queue=record.queue,
        priority=record.priority,
        status=record.status,
        created_at=from_timestamp(record.created_at),
        updated_at=from_timestamp(record.updated_at),
        due_at=from_timestamp(record.due_at),
        expires_at=_maybe_datetime(record.expires_at),
        attempts=record.attempts,
        depends_on=record.depends_on,
        dedup_key=record.dedup_key,
        schedule_id=record.schedule_id,
        lease=lease,
        error=decode_error(record.error),
        **extra,  # type: ignore[arg-type]
    )


def result_record(
    *,
    task_id: str,
    status: ResultStatus,
    finished_at: float,
    value_format: str = "",
    value: bytes = b"",
    error: ErrorInfo | None = None,
    attempts: int = 0,
    worker_id: str | None = None,
    started_at: float | None = None,
    expires_at: float | None = None,
    schedule_id: str | None = None,
) -> ResultRecord:
    """A result as stored; ``value`` is already encoded in ``value_format`` (empty: no value)."""
    stored = _StoredResult(
        value_format=value_format,
        value=value,
        error=error,
        attempts=attempts,
        worker_id=worker_id,
        started_at=started_at,
    )
    return ResultRecord(
        task_id=task_id,
        status=status,
        finished_at=finished_at,
        expires_at=expires_at,
        schedule_id=schedule_id,
        data=_spec_encoder.encode(stored),
    )


def result_from_record(record: ResultRecord, serializer: SerializationManager) -> TaskResult:
    """The public result; the value is decoded with ``serializer``."""
    try:
        stored = _result_decoder.decode(record.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PayloadError(f"result of task {record.task_id} cannot be decoded: {exc}") from exc
    return TaskResult(
        task_id=record.task_id,
        status=record.status,
        value=serializer.loads(stored.value_format, stored.value) if stored.value else None,
        error=stored.error,
        attempts=stored.attempts,
        worker_id=stored.worker_id,
        started_at=_maybe_datetime(stored.started_at),
        finished_at=from_timestamp(record.finished_at),
        expires_at=_maybe_datetime(record.expires_at),
        schedule_id=record.schedule_id,
    )


def event_to_record(event: TaskEvent) -> EventRecord:
    """An event as plain columns."""
    return EventRecord(
        type=event.type.value,
        task_id=event.task_id,
        at=event.at.timestamp(),
        queue=event.queue,
        worker_id=event.worker_id,
        attempt=event.attempt,
        error=encode_error(event.error),
        details=_json_encoder.encode(event.details).decode() if event.details else "{}",
    )


def event_from_record(record: EventRecord) -> TaskEvent:
    """The public event."""
    return TaskEvent(
        type=EventType(record.type),
        task_id=record.task_id,
        at=from_timestamp(record.at),
        queue=record.queue,
        worker_id=record.worker_id,
        attempt=record.attempt,
        error=decode_error(record.error),
        details=_details_decoder.decode(record.details) if record.details else {},
    )
