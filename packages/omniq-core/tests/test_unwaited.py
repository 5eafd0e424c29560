"""UnwaitedTasks: the shortcut from a finish to the resolve after it."""

from __future__ import annotations

import time

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome
from omniq.core.unwaited import UnwaitedTasks


def _outcome(task_id: str, status: TaskStatus) -> Outcome:
    return Outcome(task_id=task_id, lease_token="t", status=status, at=time.time())


def test_ended_tasks_of_the_finish_are_answered_once() -> None:
    unwaited = UnwaitedTasks()
    unwaited.finished([_outcome("a", TaskStatus.COMPLETED), _outcome("b", TaskStatus.DEAD)], ["a", "b"])
    assert unwaited.unknown(["a", "c"]) == ["c"]
    assert unwaited.unknown(["a", "b"]) == ["a"]


def test_only_completed_and_dead_outcomes_are_kept() -> None:
    unwaited = UnwaitedTasks()
    outcomes = [_outcome("f", TaskStatus.FAILED), _outcome("x", TaskStatus.CANCELLED)]
    unwaited.finished(outcomes, ["f", "x"])
    assert unwaited.unknown(["f", "x"]) == ["f", "x"]


def test_a_later_finish_replaces_what_an_earlier_one_said() -> None:
    unwaited = UnwaitedTasks()
    unwaited.finished([_outcome("a", TaskStatus.DEAD)], ["a"])
    unwaited.finished([_outcome("a", TaskStatus.COMPLETED), _outcome("b", TaskStatus.COMPLETED)], ["b"])
    assert unwaited.unknown(["a", "b"]) == ["a"]
