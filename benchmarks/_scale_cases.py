"""The rows of the scale table, and how one row is measured on one engine.

Every case starts from a fresh store, fills it (untimed) and has ONE worker drain ``--drain``
no-op tasks from it, timed from ``go`` to ``done`` as in ``run.py``: the worker process is
``_workers.py omniq`` (``run_worker("async", max_workers=--concurrency)``), except on the
in-memory engine, whose store lives in this process and whose worker therefore runs here.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from _harness import OMNIQ_SETTINGS, Deadline, WorkerProcess, run_async
from _omniq_systems import completed_tasks, running_worker, wait_completed
from _scale_fill import NOOP, expect_counts, fill_edges, fill_history, fill_pending
from _scale_stores import Store, open_store
from omniq.core import AsyncOmniQ

__all__ = ["Case", "CaseFigures", "ScaleConfig", "build_cases", "run_case"]

#: The parents every waiting task of the ``edges`` case depends on.
PARENTS = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleConfig:
    """What one run measures; every engine gets the same numbers."""

    drain: int = 5_000
    concurrency: int = 50
    #: Pending tasks of the baseline, and beside the history, statistics and edges.
    pending: int = 10_000
    #: Multiplies the sizes of the backlogs, histories and waiting tasks.
    scale: float = 1.0
    phase_timeout: float = 1_800.0

    def sized(self, nominal: int) -> int:
        """``nominal`` times ``scale``, at least 1."""
        return max(1, round(nominal * self.scale))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Case:
    """One row: what the store holds when the drain starts."""

    key: str
    label: str
    pending: int
    history: int = 0
    waiting: int = 0
    #: Gather planner statistics after filling (engines that keep them; otherwise ``n/a``).
    statistics: bool = False
    #: Run the engine's upkeep (PostgreSQL: ``VACUUM ANALYZE``) after filling.
    upkeep: bool = False
    #: Measure the store's growth per finished task.
    bytes: bool = False

    def applies_to(self, store: type[Store]) -> bool:
        """Whether this row can be measured on ``store``'s engine."""
        if self.statistics and not store.has_statistics:
            return False
        return not (self.bytes and store.in_process)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseFigures:
    """One case on one engine in one round."""

    tasks_per_second: float
    #: Bytes the store grew by per finished task (the ``bytes`` case only).
    bytes_per_task: float | None = None
    #: The baseline only: the rate of each of its drains in the round, whose mean is
    #: ``tasks_per_second``.
    drains: tuple[float, ...] = ()


def _n(count: int) -> str:
    return f"{count:,}"


def build_cases(config: ScaleConfig) -> list[Case]:
    """Every row, in table order; ``key`` names the nominal size, ``label`` the actual one."""
    pending = config.pending
    cases = [Case(key="baseline", label=f"baseline: {_n(pending)} pending (fresh store)", pending=pending)]
    for size in (100_000, 500_000):
        count = config.sized(size)
        cases.append(
            Case(key=f"backlog-{size // 1000}k", label=f"backlog: {_n(count)} pending", pending=count)
        )
    for size in (100_000, 200_000, 500_000):
        count = config.sized(size)
        label = f"history: {_n(pending)} pending beside {_n(count)} finished"
        cases.append(
            Case(key=f"history-{size // 1000}k", label=label, pending=pending, history=count, upkeep=True)
        )
    cases.append(
        Case(
            key="statistics",
            label=f"statistics: {_n(pending)} pending after ANALYZE",
            pending=pending,
            statistics=True,
        )
    )
    waiting = config.sized(50_000)
    cases.append(
        Case(
            key="edges-50k",
            label=(
                f"dependencies: {_n(pending)} pending beside {_n(waiting)} waiting tasks on "
                f"{PARENTS} parents ({_n(waiting * PARENTS)} edges)"
            ),
            pending=pending,
            waiting=waiting,
        )
    )
    cases.append(
        Case(
            key="bytes",
            label=f"bytes: {_n(config.drain)} pending drained to empty, beside as many finished",
            pending=config.drain,
            history=config.drain,
            bytes=True,
        )
    )
    return cases


async def _fill(app: AsyncOmniQ, case: Case, *, past: bool = True, pending: bool = True) -> None:
    """The ``past`` (history first, then the dependency graph), then the ``pending`` tasks."""
    if past:
        await fill_history(app, case.history)
        if case.waiting:
            await fill_edges(app, case.waiting, PARENTS)
    if pending:
        await fill_pending(app, case.pending)
        parents = PARENTS if case.waiting else 0
        await expect_counts(
            app, {"completed": case.history, "waiting": case.waiting, "pending": case.pending + parents}
        )


async def _fill_store(url: str, case: Case, *, past: bool = True, pending: bool = True) -> None:
    async with AsyncOmniQ(url) as app:
        await _fill(app, case, past=past, pending=pending)


async def _completed_at_least(url: str, count: int) -> None:
    async with AsyncOmniQ(url) as app:
        done = await completed_tasks(app)
    if done < count:
        raise RuntimeError(f"{done} tasks completed after the drain, fewer than {count}")


def _drain_in_process(store: Store, case: Case, config: ScaleConfig) -> float:
    """Fill and drain in one application of this process (``memory://``)."""

    async def fill_and_drain() -> float:
        async with AsyncOmniQ(store.url, **OMNIQ_SETTINGS) as app:
            await _fill(app, case)
            app.functions.resolve(NOOP)
            started = time.perf_counter()
            await app.start_worker("async", max_workers=config.concurrency)
            await wait_completed(running_worker(app), config.drain)
            elapsed = time.perf_counter() - started
            await app.stop_worker()
            return elapsed

    return run_async(fill_and_drain(), config.phase_timeout, f"{store.name} {case.key}")


def drain(store: Store, config: ScaleConfig, workdir: Path, what: str) -> float:
    """Seconds for one worker process to complete ``config.drain`` tasks of ``store``."""
    deadline = Deadline(config.phase_timeout, what)
    args = [
        store.url,
        "--kind",
        "async",
        "--max-workers",
        str(config.concurrency),
        "--target",
        str(config.drain),
    ]
    with WorkerProcess("omniq", args, workdir) as worker:
        worker.expect("ready", deadline)
        started = time.perf_counter()
        worker.release()
        worker.expect("done", deadline)
        return time.perf_counter() - started


def run_case(engine: str, case: Case, config: ScaleConfig, workdir: Path) -> CaseFigures:
    """Measure ``case`` on a fresh store of ``engine`` (removed afterwards)."""
    what = f"{engine} {case.key}"
    timeout = config.phase_timeout
    with open_store(engine, workdir) as store:
        if store.in_process:
            return CaseFigures(tasks_per_second=config.drain / _drain_in_process(store, case, config))
        # The bytes case measures the store between its past and its pending tasks.
        run_async(_fill_store(store.url, case, pending=not case.bytes), timeout, f"{what} fill")
        before = run_async(store.bytes_used(), timeout, f"{what} size") if case.bytes else None
        if case.bytes:
            run_async(_fill_store(store.url, case, past=False), timeout, f"{what} fill")
        if case.statistics:
            run_async(store.analyze(), timeout, f"{what} ANALYZE")
        if case.upkeep:
            run_async(store.upkeep(), timeout, f"{what} upkeep")
        elapsed = drain(store, config, workdir, f"{what} drain")
        run_async(_completed_at_least(store.url, case.history + config.drain), timeout, f"{what} check")
        figures = CaseFigures(tasks_per_second=config.drain / elapsed)
        if before is None:
            return figures
        after = run_async(store.bytes_used(), timeout, f"{what} size")
        assert after is not None
        return dataclasses.replace(figures, bytes_per_task=(after - before) / case.pending)
