"""Remembering finished tasks that nothing waits on, for backends whose finish can tell.

A worker asks to resolve the dependents of every task it finishes, though almost always none
exist. A backend whose finish step already knows (SQLite, Redis) notes those ids here and answers
the resolve that follows without a round trip. The answer stays true: once a task is final no new
dependency edge can point at it (enqueue decides such dependents against its final status).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["UnwaitedTasks"]

#: Ids remembered at most; past that the memory is dropped (ids nobody asked about).
DEFAULT_KEPT = 100_000


class UnwaitedTasks:
    """Final tasks known to have no dependents, until a resolve asks about them."""

    def __init__(self, kept: int = DEFAULT_KEPT) -> None:
        self._kept = kept
        self._ids: set[str] = set()

    def note(self, task_ids: Iterable[str]) -> None:
        """Remember these final tasks as having nothing waiting on them."""
        if len(self._ids) > self._kept:
            self._ids.clear()  # only a shortcut: a forgotten id costs one lookup
        self._ids.update(task_ids)

    def unknown(self, task_ids: Sequence[str]) -> list[str]:
        """The ids whose dependents must still be looked up; the others are forgotten, asked for."""
        ids = self._ids
        if not ids:
            return list(task_ids)
        unknown = [task_id for task_id in task_ids if task_id not in ids]
        ids.difference_update(task_ids)
        return unknown
