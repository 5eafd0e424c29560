"""Turning the end of an attempt into an outcome, a result and events."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from omniq.core._exceptions import encodable, exception_message, formatted_exception
from omniq.core.codec import TaskSpec, decode_error, decode_spec, encode_error, result_record
from omniq.core.errors import PayloadError, TaskTimeoutError
from omniq.core.models import ErrorInfo, EventType, ResultStatus, RetryPolicy, TaskStatus
from omniq.core.options import exception_name
from omniq.core.records import DependencyReport, EventRecord, Outcome, ResultRecord, TaskRecord

__all__ = [
    "Settlement",
    "dependency_results",
    "error_info",
    "final_result",
    "retry_delay",
    "should_retry",
    "task_event",
]

#: The result status of each final task status that leaves no value behind.
_RESULT_STATUS = {
    TaskStatus.DEAD: ResultStatus.ERROR,
    TaskStatus.CANCELLED: ResultStatus.CANCELLED,
    TaskStatus.EXPIRED: ResultStatus.EXPIRED,
}
_CANCELLED = ErrorInfo(type="omniq.Cancelled", message="cancelled")


def error_info(exc: BaseException, *, with_traceback: bool = True) -> ErrorInfo:
    """An exception as data, whatever it holds: this never raises, and every text in it can be
    encoded (see :mod:`omniq.core._exceptions`)."""
    return ErrorInfo(
        type=encodable(exception_name(type(exc))),
        message=exception_message(exc),
        traceback=formatted_exception(exc) if with_traceback else None,
    )


def retry_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Seconds before retry ``retry_number`` (1-based): exponential, capped, optionally jittered."""
    delay = min(policy.delay * policy.backoff ** (retry_number - 1), policy.max_delay)
    if policy.jitter and delay > 0:
        delay = random.uniform(delay / 2, delay)  # noqa: S311 - spreading retries, not security
    return delay


def should_retry(policy: RetryPolicy, exc: BaseException, attempts: int, max_attempts: int) -> bool:
    """Whether a failed attempt may run again: attempts left, and the type passes ``retry_on``."""
    if attempts >= max_attempts:
        return False
    if not policy.retry_on or isinstance(exc, TaskTimeoutError):
        return True
    allowed = set(policy.retry_on)
    return any(exception_name(cls) in allowed or cls.__qualname__ in allowed for cls in type(exc).__mro__)


class Settlement:
    """What the worker writes when an attempt ends: the outcome, maybe a result, and events."""

    __slots__ = ("error", "events", "outcome", "record", "result", "returned", "spec")

    def __init__(
        self,
        outcome: Outcome,
        result: ResultRecord | None,
        events: list[EventRecord],
        *,
        record: TaskRecord,
        spec: TaskSpec | None = None,
        returned: Any = None,
        error: ErrorInfo | None = None,
    ) -> None:
        self.outcome = outcome
        self.result = result
        self.events = events
        # What callbacks are told once the outcome is stored.
        self.record = record
        self.spec = spec
        self.returned = returned
        self.error = error

    @classmethod
    def success(
        cls,
        record: TaskRecord,
        spec: TaskSpec,
        *,
        value_format: str,
        value: bytes,
        returned: Any,
        started_at: float,
    ) -> Settlement:
        now = time.time()
        token = record.lease_token or ""
        result = result_record(
            task_id=record.id,
            status=ResultStatus.SUCCESS,
            finished_at=now,
            value_format=value_format,
            value=value,
            attempts=record.attempts,
            worker_id=record.worker_id,
            started_at=started_at,
            expires_at=_expiry(spec.result_ttl, now),
            schedule_id=record.schedule_id,
        )
        outcome = Outcome(task_id=record.id, lease_token=token, status=TaskStatus.COMPLETED, at=now)
        events = [_completed_event(record, now, now - started_at)]
        return cls(outcome, result, events, record=record, spec=spec, returned=returned)

    @classmethod
    def failure(
        cls,
        record: TaskRecord,
        spec: TaskSpec | None,
        exc: BaseException,
        *,
        started_at: float | None,
        retryable: bool = True,
    ) -> Settlement:
        """A failed attempt: ``failed`` with a retry time, or ``dead`` with an error result."""
        now = time.time()
        error = error_info(exc)
        error_json = encode_error(error)
        token = record.lease_token or ""
        kind = EventType.TIMEOUT if isinstance(exc, TaskTimeoutError) else EventType.ERROR
        timing: dict[str, object] | None = None if started_at is None else {"duration": now - started_at}
        events = [task_event(record, kind, now, error=error_json, details=timing)]
        if (
            retryable
            and spec is not None
            and should_retry(spec.retry, exc, record.attempts, record.max_attempts)
        ):
            delay = retry_delay(spec.retry, record.attempts)
            outcome = Outcome(
                task_id=record.id,
                lease_token=token,
                status=TaskStatus.FAILED,
                at=now,
                due_at=now + delay,
                error=error_json,
            )
            events.append(task_event(record, EventType.RETRY, now, details={"delay": delay}))
            return cls(outcome, None, events, record=record, spec=spec, error=error)
        outcome = Outcome(
            task_id=record.id, lease_token=token, status=TaskStatus.DEAD, at=now, error=error_json
        )
        events.append(task_event(record, EventType.DEAD, now, error=error_json))
        result = result_record(
            task_id=record.id,
            status=ResultStatus.ERROR,
            finished_at=now,
            error=error,
            attempts=record.attempts,
            worker_id=record.worker_id,
            started_at=started_at,
            expires_at=_expiry(spec.result_ttl if spec else None, now),
            schedule_id=record.schedule_id,
        )
        return cls(outcome, result, events, record=record, spec=spec, error=error)

    @classmethod
    def expired(cls, record: TaskRecord) -> Settlement:
        """A claimed task whose TTL passed before it could start: ``expired``, never run, with the
        event and result the reaper's expiry gives."""
        now = time.time()
        outcome = Outcome(
            task_id=record.id, lease_token=record.lease_token or "", status=TaskStatus.EXPIRED, at=now
        )
        result = final_result(msgspec.structs.replace(record, status=TaskStatus.EXPIRED), now)
        return cls(outcome, result, [task_event(record, EventType.EXPIRED, now)], record=record)

    @classmethod
    def release(cls, record: TaskRecord) -> Settlement:
        """Give an unfinished task back to the queue (the worker is stopping)."""
        now = time.time()
        outcome = Outcome(
            task_id=record.id,
            lease_token=record.lease_token or "",
            status=TaskStatus.PENDING,
            at=now,
            due_at=now,
        )
        events = [task_event(record, EventType.RETRY, now, details={"reason": "released"})]
        return cls(outcome, None, events, record=record)


def final_result(record: TaskRecord, now: float) -> ResultRecord | None:
    """The result of a task that ended ``dead``, ``cancelled`` or ``expired`` without a worker
    writing one (reaped, cancelled, or its worker died between the two writes); ``None`` for
    any other status. Kept for the task's own ``result_ttl``."""
    status = _RESULT_STATUS.get(record.status)
    if status is None:
        return None
    try:
        result_ttl = decode_spec(record).result_ttl
    except PayloadError:
        result_ttl = None
    error = decode_error(record.error)
    if status is ResultStatus.CANCELLED:
        error = error or _CANCELLED
    elif status is ResultStatus.EXPIRED:
        error = None
    return result_record(
        task_id=record.id,
        status=status,
        finished_at=now,
        error=error,
        attempts=record.attempts,
        worker_id=record.worker_id,
        expires_at=_expiry(result_ttl, now),
        schedule_id=record.schedule_id,
    )


def _expiry(ttl: float | None, now: float) -> float | None:
    return None if ttl is None else now + ttl


def task_event(
    record: TaskRecord,
    kind: EventType,
    at: float,
    *,
    error: str | None = None,
    details: dict[str, object] | None = None,
) -> EventRecord:
    """An event about ``record`` as it is now."""
    return EventRecord(
        type=_TYPE_TEXT[kind],
        task_id=record.id,
        at=at,
        queue=record.queue,
        worker_id=record.worker_id,
        attempt=record.attempts,
        error=error,
        details=_details(details),
    )


#: Event types as stored text; a dict lookup is far cheaper than ``EventType.value``.
_TYPE_TEXT = {kind: kind.value for kind in EventType}


def _completed_event(record: TaskRecord, at: float, duration: float) -> EventRecord:
    """:func:`task_event` for ``completed``, written out: it is made once per task run."""
    return EventRecord(
        type="completed",
        task_id=record.id,
        at=at,
        queue=record.queue,
        worker_id=record.worker_id,
        attempt=record.attempts,
        details=f'{{"duration":{duration!r}}}',  # a float's repr is valid JSON (never inf or nan here)
    )


def _details(details: dict[str, object] | None) -> str:
    if not details:
        return "{}"
    return msgspec.json.encode(details).decode()


def dependency_results(
    report: DependencyReport, record_event: Callable[[EventRecord], None], now: float
) -> list[ResultRecord]:
    """Say what resolving dependencies changed: a released task gets a ``dependency_satisfied``
    event; a cancelled one a ``dependency_failed`` event and a ``cancelled`` result naming the
    dependency that failed (returned, for the caller to store)."""
    for record in report.released:
        record_event(task_event(record, EventType.DEPENDENCY_SATISFIED, now))
    results = []
    for record in report.cancelled:
        record_event(task_event(record, EventType.DEPENDENCY_FAILED, now, error=record.error))
        result = final_result(record, now)
        if result is not None:
            results.append(result)
    return results
