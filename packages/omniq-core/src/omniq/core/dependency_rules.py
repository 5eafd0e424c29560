"""The dependency decision, written once: how a new task starts given its dependencies, and what a
dependency's final status does to the tasks waiting on it.

Backends keep the edges and apply the decision atomically in their own engine (one transaction,
one script, one lock), but they decide nothing themselves: they read the facts (the statuses of the
dependencies), call :func:`start_status` or :func:`cascade`, and write what these return. An engine that
must keep the rule inside a statement or a script it runs atomically (Redis's Lua) takes the rule's
definition from :data:`DEPENDENT_FATE` when it builds the script, so that it cannot drift.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import msgspec

from omniq.core.models import TaskStatus
from omniq.core.records import FINAL_STATUSES, TaskRecord, dependency_failed_error

__all__ = [
    "DEPENDENT_FATE",
    "Cascade",
    "DependentFate",
    "Start",
    "cascade",
    "fate_of",
    "sql_status_list",
    "start_status",
]


class DependentFate(enum.StrEnum):
    """What a dependency that has ended does to a task waiting on it."""

    #: The dependency completed: the waiting task has one dependency fewer to wait for, and becomes
    #: ``pending`` when none is left.
    COUNT_DOWN = "count_down"
    #: The dependency failed (``dead``, ``cancelled``, ``expired``): the waiting task is cancelled
    #: with :func:`~omniq.core.records.dependency_failed_error`, and so on down the graph.
    CANCEL = "cancel"


#: The fate of a waiting task, by the final status of one of its dependencies. A status not listed
#: is not final: the task keeps waiting.
DEPENDENT_FATE: Mapping[TaskStatus, DependentFate] = MappingProxyType(
    {
        status: DependentFate.COUNT_DOWN if status is TaskStatus.COMPLETED else DependentFate.CANCEL
        for status in FINAL_STATUSES
    }
)


def fate_of(status: str) -> DependentFate | None:
    """What a dependency in ``status`` does to its waiting dependents; ``None`` while it may still run."""
    return DEPENDENT_FATE.get(TaskStatus(status))


class Start(NamedTuple):
    """How a new task starts (see :func:`start_status`)."""

    #: The record with the status it starts in (``pending``, ``waiting`` or ``cancelled``, the
    #: last with its error).
    record: TaskRecord
    #: The dependencies it waits for (each once, in ``depends_on`` order); empty unless waiting.
    waits_for: list[str]


def start_status(record: TaskRecord, statuses: Mapping[str, str]) -> Start:
    """How ``record`` starts, from the current status of each of its dependencies.

    ``cancelled`` if any dependency has failed (the first in ``depends_on`` order names the error),
    else ``waiting`` on the dependencies that have not completed, else ``pending``. A record
    without dependencies starts as it is. ``statuses`` must hold every id in ``depends_on``: the
    backend refuses unknown ids before deciding.
    """
    if not record.depends_on:
        return Start(record, [])
    open_ids = []
    for dependency_id in dict.fromkeys(record.depends_on):
        status = statuses[dependency_id]
        fate = fate_of(status)
        if fate is DependentFate.CANCEL:
            error = dependency_failed_error(dependency_id, status)
            return Start(_with(record, TaskStatus.CANCELLED, error), [])
        if fate is None:
            open_ids.append(dependency_id)
    if not open_ids:
        return Start(_with(record, TaskStatus.PENDING, record.error), [])
    return Start(_with(record, TaskStatus.WAITING, record.error), open_ids)


class Cascade(NamedTuple):
    """What a round of ended dependencies does to the tasks waiting on them (see :func:`cascade`)."""

    #: Per waiting task to count down, how many of its dependencies completed in this round.
    count_down: dict[str, int]
    #: Per waiting task to cancel, its error (naming the first failed dependency of the round).
    cancel: dict[str, str]


def cascade(edges: Iterable[tuple[str, str, str]]) -> Cascade:
    """The decision for a round of edges ``(dependency id, waiting task id, dependency status)``,
    each dependency final.

    A task with a failed dependency in the round is cancelled and never counted down (it must not
    be released by the completed ones); a backend applies the decision only to tasks still
    ``waiting``, and follows the cancelled ones down the graph in its next round.
    """
    count_down: dict[str, int] = {}
    cancel: dict[str, str] = {}
    for dependency_id, task_id, status in edges:
        fate = fate_of(status)
        if fate is DependentFate.COUNT_DOWN:
            count_down[task_id] = count_down.get(task_id, 0) + 1
        elif fate is DependentFate.CANCEL and task_id not in cancel:
            cancel[task_id] = dependency_failed_error(dependency_id, status)
    for task_id in cancel:
        count_down.pop(task_id, None)
    return Cascade(count_down, cancel)


def sql_status_list(statuses: Iterable[TaskStatus]) -> str:
    """The statuses as an SQL list literal, ``('a', 'b')``, for a statement (or a partial index)
    that must name them; the values are core's enum values, never user input."""
    return "(" + ", ".join(f"'{status.value}'" for status in statuses) + ")"


def _with(record: TaskRecord, status: TaskStatus, error: str | None) -> TaskRecord:
    return msgspec.structs.replace(record, status=status, error=error)
