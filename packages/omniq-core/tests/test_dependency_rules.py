"""The dependency decision every backend applies: how a task starts, what an ended dependency does."""

from __future__ import annotations

import msgspec

from omniq.core.dependency_rules import (
    DEPENDENT_FATE,
    DependentFate,
    cascade,
    fate_of,
    sql_status_list,
    start_status,
)
from omniq.core.models import TaskStatus
from omniq.core.records import FINAL_STATUSES, TaskRecord, dependency_failed_error
from omniq.core.testing._support import make_record


def _depending_on(*ids: str) -> TaskRecord:
    return msgspec.structs.replace(make_record(), depends_on=ids)


def test_every_final_status_has_a_fate_and_only_completed_counts_down() -> None:
    assert set(DEPENDENT_FATE) == set(FINAL_STATUSES)
    assert [s for s, fate in DEPENDENT_FATE.items() if fate is DependentFate.COUNT_DOWN] == [
        TaskStatus.COMPLETED
    ]
    assert fate_of("running") is None
    assert fate_of("waiting") is None
    assert fate_of("expired") is DependentFate.CANCEL


def test_a_task_without_dependencies_starts_as_it_is() -> None:
    record = make_record()
    assert start_status(record, {}) == (record, [])


def test_a_task_whose_dependencies_all_completed_starts_pending() -> None:
    started = start_status(_depending_on("a", "b"), {"a": "completed", "b": "completed"})
    assert started.record.status is TaskStatus.PENDING and started.waits_for == []


def test_a_task_waits_once_for_each_open_dependency_in_order() -> None:
    started = start_status(
        _depending_on("b", "a", "b", "c"), {"a": "running", "b": "pending", "c": "completed"}
    )
    assert started.record.status is TaskStatus.WAITING
    assert started.waits_for == ["b", "a"]


def test_a_failed_dependency_cancels_the_task_naming_the_first_failed_one() -> None:
    statuses = {"a": "running", "b": "dead", "c": "cancelled"}
    started = start_status(_depending_on("a", "b", "c"), statuses)
    assert started.record.status is TaskStatus.CANCELLED
    assert started.record.error == dependency_failed_error("b", "dead")
    assert started.waits_for == []


def test_a_round_counts_completed_edges_and_cancels_on_the_first_failed_one() -> None:
    decision = cascade(
        [
            ("d1", "t1", "completed"),
            ("d2", "t1", "completed"),
            ("d1", "t2", "completed"),
            ("d3", "t2", "expired"),
            ("d4", "t2", "dead"),
            ("d4", "t3", "dead"),
        ]
    )
    assert decision.count_down == {"t1": 2}  # t2 has a failed dependency: never released
    assert decision.cancel == {
        "t2": dependency_failed_error("d3", "expired"),
        "t3": dependency_failed_error("d4", "dead"),
    }


def test_the_sql_list_names_the_statuses_in_order() -> None:
    assert sql_status_list(FINAL_STATUSES) == "('completed', 'dead', 'cancelled', 'expired')"
