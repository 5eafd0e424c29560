"""The shortcut from a finish to the dependency resolve a worker asks for right after it.

After settling a batch, a worker asks to resolve the dependents of the tasks that ended in it
(:data:`RESOLVED_AFTER_FINISH`), though almost always none exist. A backend whose finish step can
tell which ended tasks nothing waits on (SQLite, Redis) keeps those of its last finish here and
answers that resolve without a round trip.

Only the last finish is kept: the answer is true when the finish ran, and a task can gain
dependents again later (requeued, it is live once more), so an older answer is not trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome

__all__ = ["RESOLVED_AFTER_FINISH", "UnwaitedTasks"]

#: Outcomes after which a worker resolves the task's dependents.
RESOLVED_AFTER_FINISH = frozenset({TaskStatus.COMPLETED, TaskStatus.DEAD, TaskStatus.EXPIRED})


class UnwaitedTasks:
    """The tasks of a backend's last finish that ended with nothing waiting on them."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def finished(self, outcomes: Iterable[Outcome], unwaited: Iterable[str]) -> None:
        """Replace what is known with this finish: of its ``outcomes``, those in
        :data:`RESOLVED_AFTER_FINISH` whose (accepted) task is in ``unwaited``."""
        ended = {o.task_id for o in outcomes if o.status in RESOLVED_AFTER_FINISH}
        self._ids = ended.intersection(unwaited)

    def unknown(self, task_ids: Sequence[str]) -> list[str]:
        """The ids whose dependents must still be looked up; the others are answered, and
        forgotten."""
        ids = self._ids
        if not ids:
            return list(task_ids)
        unknown = [task_id for task_id in task_ids if task_id not in ids]
        ids.difference_update(task_ids)
        return unknown
