"""What a drain under crashes must leave behind, read from the store and from the run log.

Every task is :func:`omniq.core.testing.tasks.record_attempt`, which appends one line per execution
that reached its side effect: the task id, the attempt, the worker's id (which holds its pid) and
when the execution started. Delivery is at least once, so a task may have run more than once; the
audit accepts an extra run only with a reason (its worker was killed, its lease expired, the
broker was down while it ran) and lists every run it cannot explain.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, ResultStatus, TaskResult

__all__ = ["DrainAudit", "Run", "audit_drain", "read_attempts"]

#: Given an execution that did not produce the stored result: why it happened, or ``None``.
Excuse = Callable[["Run"], str | None]


@dataclass(frozen=True)
class Run:
    """One execution of a task, as its line in the run log tells it."""

    task_id: str
    attempt: int
    worker_id: str
    pid: int
    started: float

    @property
    def worker_pid(self) -> int:
        """The pid of the worker process (``host:pid:suffix``), whatever process ran the function."""
        return int(self.worker_id.rsplit(":", 2)[1])


def read_attempts(path: Path) -> dict[str, list[Run]]:
    """The runs in the log, per task id, in the order they were written."""
    runs: dict[str, list[Run]] = collections.defaultdict(list)
    if not path.exists():
        return runs
    for line in path.read_text(encoding="utf-8").splitlines():
        task_id, attempt, worker_id, pid, started = line.split()
        runs[task_id].append(Run(task_id, int(attempt), worker_id, int(pid), float(started)))
    return runs


@dataclass
class DrainAudit:
    """What the audit found: problems (a test fails on any) and how extra runs were explained."""

    tasks: int = 0
    runs: int = 0
    #: Tasks whose stored result came from a later attempt than the first (a lease was recovered).
    reclaimed: int = 0
    problems: list[str] = field(default_factory=list)
    excused: collections.Counter[str] = field(default_factory=collections.Counter)

    def summary(self) -> str:
        """One line for the test's output."""
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.excused.items())) or "none"
        return (
            f"{self.tasks} tasks, {self.runs} runs, {self.reclaimed} finished by a later attempt; "
            f"extra runs: {reasons}; problems: {len(self.problems)}"
        )

    def __str__(self) -> str:
        return "\n".join([self.summary(), *self.problems[:30]])


async def audit_drain(app: AsyncOmniQ, keys: dict[str, str], log: Path, excuse: Excuse) -> DrainAudit:
    """Check that every task of ``keys`` (task id -> the key it returns) completed exactly once.

    - the store holds only completed tasks: none pending, running, failed or dead;
    - each task has a ``success`` result with its own value, made by an execution in the log (same
      attempt, same worker), and at most one ``completed`` event (events of a killed worker may be
      lost with it, never doubled);
    - no two executions of a task share an attempt (each came from a claim of its own);
    - every other execution of a task has a reason: ``excuse(run)``, else a lease the store saw
      expire or a worker saw lost (``retry`` or ``lease_lost`` events for that attempt).
    """
    audit = DrainAudit(tasks=len(keys))
    counts = await app.counts()
    expected = {"default": {"completed": len(keys)}}
    found = {queue: {s: n for s, n in by.items() if n} for queue, by in counts.items()}
    if {q: by for q, by in found.items() if by} != expected:
        audit.problems.append(f"task counts {found}, expected {expected}")
    runs = read_attempts(log)
    audit.runs = sum(len(r) for r in runs.values())
    for task_id in runs.keys() - keys.keys():
        audit.problems.append(f"the log has runs of an unknown task {task_id}")
    results = await _results(app, list(keys))
    lost_leases = await _lost_leases(app)
    completed_events = collections.Counter(
        event.task_id for event in await app.events(types=[EventType.COMPLETED])
    )
    for task_id, key in keys.items():
        result = results[task_id]
        _check_task(audit, task_id, key, result, runs.get(task_id, []), completed_events[task_id])
        accepted = _accepted_run(result, runs.get(task_id, []))
        audit.reclaimed += result is not None and result.attempts > 1
        for run in runs.get(task_id, []):
            if run is accepted:
                continue
            why = excuse(run) or ("lease expired" if (task_id, run.attempt) in lost_leases else None)
            if why is None:
                audit.problems.append(f"task {task_id}: unexplained extra run {run} (result {result})")
            else:
                audit.excused[why] += 1
    return audit


def _check_task(
    audit: DrainAudit, task_id: str, key: str, result: TaskResult | None, runs: Sequence[Run], events: int
) -> None:
    if not runs:
        audit.problems.append(f"task {task_id} never ran")
    attempts = [run.attempt for run in runs]
    if len(set(attempts)) != len(attempts):
        audit.problems.append(f"task {task_id}: one attempt ran twice: {runs}")
    if result is None or result.status is not ResultStatus.SUCCESS or result.value != key:
        audit.problems.append(f"task {task_id}: result {result}, expected success with {key!r}")
    elif _accepted_run(result, runs) is None:
        audit.problems.append(f"task {task_id}: its result {result} matches no run in the log: {runs}")
    if events > 1:
        audit.problems.append(f"task {task_id}: {events} completed events")


def _accepted_run(result: TaskResult | None, runs: Sequence[Run]) -> Run | None:
    """The execution whose outcome the store accepted: the run of the result's attempt and worker."""
    if result is None:
        return None
    matching = [r for r in runs if (r.attempt, r.worker_id) == (result.attempts, result.worker_id)]
    return matching[0] if len(matching) == 1 else None


async def _results(app: AsyncOmniQ, task_ids: list[str]) -> dict[str, TaskResult | None]:
    results: dict[str, TaskResult | None] = {}
    for start in range(0, len(task_ids), 100):
        chunk = task_ids[start : start + 100]
        found = await asyncio.gather(*(app.get_result(task_id) for task_id in chunk))
        results.update(zip(chunk, found, strict=True))
    return results


async def _lost_leases(app: AsyncOmniQ) -> set[tuple[str, int]]:
    """(task id, attempt) of every lease a reaper found expired or a worker found lost."""
    events = await app.events(types=[EventType.RETRY, EventType.LEASE_LOST])
    return {
        (event.task_id, event.attempt)
        for event in events
        if event.attempt is not None
        and (event.type is EventType.LEASE_LOST or event.details.get("reason") == "lease expired")
    }
