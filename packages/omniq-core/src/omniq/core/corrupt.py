"""Reading stored tasks when some of them are corrupt.

Anything that can write to the store can leave a record a backend cannot read: a field of the
wrong type, ``depends_on`` that is not a JSON list, a status no release knows. One such record must
not break what is read with it: a claim of ten tasks, the reaper's round, or ``omniq dead list``.
Backends convert rows on the fast path as usual; when that fails, :func:`split_readable` converts
them one by one, checks every field's type, and names each unreadable one with the reason. A claim
then sends the unreadable tasks it leased to ``dead`` with :func:`unreadable_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

import msgspec

from omniq.core._exceptions import exception_message
from omniq.core.codec import encode_error
from omniq.core.errors import PayloadError
from omniq.core.models import ErrorInfo
from omniq.core.records import TaskRecord

__all__ = [
    "Unreadable",
    "check_task",
    "read_one_task",
    "readable_tasks",
    "split_readable",
    "unreadable_error",
    "warn_unreadable",
]

logger = logging.getLogger("omniq.store")

R = TypeVar("R")


class Unreadable(NamedTuple):
    """A stored task that cannot be read, and why."""

    task_id: str
    reason: str


def check_task(record: TaskRecord) -> TaskRecord:
    """``record`` if every field has its type; else :class:`PayloadError` naming the field
    (a struct built from row values is not checked when it is made)."""
    try:
        return msgspec.convert(msgspec.structs.asdict(record), TaskRecord)
    except msgspec.ValidationError as exc:
        raise PayloadError(str(exc).replace("`$.", "`")) from None


def split_readable(
    rows: Iterable[R], convert: Callable[[R], TaskRecord], task_id: Callable[[R], Any]
) -> tuple[list[TaskRecord], list[Unreadable]]:
    """Every row converted and checked, or named as unreadable (``task_id`` reads the id of a
    row, which may itself be what is corrupt)."""
    readable: list[TaskRecord] = []
    unreadable: list[Unreadable] = []
    for row in rows:
        try:
            readable.append(check_task(convert(row)))
        except Exception as exc:  # noqa: BLE001 - any way a row can fail to read
            reason = f"{type(exc).__name__}: {exception_message(exc)}"
            unreadable.append(Unreadable(str(task_id(row)), reason))
    return readable, unreadable


def unreadable_error(unreadable: Unreadable) -> str:
    """The error stored with a task sent to ``dead`` because it cannot be read."""
    message = f"the stored task cannot be read ({unreadable.reason}); it was not run"
    error = encode_error(ErrorInfo(type="omniq.core.errors.PayloadError", message=message))
    assert error is not None
    return error


def warn_unreadable(unreadable: Sequence[Unreadable], where: str) -> None:
    """Log each unreadable task left out of ``where`` (a listing), naming it."""
    for item in unreadable:
        logger.warning("task %s is left out of %s: it cannot be read (%s)", item.task_id, where, item.reason)


def readable_tasks(
    rows: Iterable[R], convert: Callable[[R], TaskRecord], task_id: Callable[[R], Any], where: str
) -> list[TaskRecord]:
    """The readable tasks of ``rows``, each checked; the others are named in the log as left out
    of ``where``. For listings and reports, not for a claim's hot path."""
    readable, unreadable = split_readable(rows, convert, task_id)
    warn_unreadable(unreadable, where)
    return readable


def read_one_task(row: R | None, convert: Callable[[R], TaskRecord], task_id: str) -> TaskRecord | None:
    """The task of ``row`` (``None`` for none), checked; :class:`PayloadError` names the task
    and why it cannot be read."""
    if row is None:
        return None
    try:
        return check_task(convert(row))
    except Exception as exc:
        raise PayloadError(f"task {task_id} in the store cannot be read: {exception_message(exc)}") from exc
