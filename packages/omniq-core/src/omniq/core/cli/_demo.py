"""``omniq demo``: the whole life of a batch of tasks on the embedded default backend."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time

from omniq.core import demo_tasks
from omniq.core.app import AsyncOmniQ
from omniq.core.cli._config import app_from_args
from omniq.core.cli._progress import ProgressBar
from omniq.core.models import EventType, TaskStatus

__all__ = ["run_demo"]

DEFAULT_DEMO_FILE = "omniq-demo.db"


async def run_demo(args: argparse.Namespace) -> int:
    """Enqueue tasks, run a worker with a progress bar, print results and a summary."""
    embedded = args.url is None and args.config is None
    if embedded:
        _remove_previous_demo()
        args.url = f"sqlite:///{DEFAULT_DEMO_FILE}"
    total = max(args.tasks, 1)
    flaky = max(total // 50, 1)
    broken = 2
    app = app_from_args(args, poll_interval=0.05)
    print(f"OmniQ demo on {app.task_queue!r}: {total} tasks, {args.concurrency} at a time")
    with tempfile.TemporaryDirectory(prefix="omniq-demo-") as markers:
        async with app:
            started = time.perf_counter()
            ids = await app.enqueue_many(
                demo_tasks.checksum, [{"n": n} for n in range(total - flaky - broken)]
            )
            await app.enqueue_many(
                demo_tasks.flaky_checksum,
                [{"n": n, "marker_dir": markers} for n in range(flaky)],
                max_retries=2,
                retry_delay=0.2,
            )
            await app.enqueue_many(
                demo_tasks.broken, [{"n": n} for n in range(broken)], max_retries=1, retry_delay=0.1
            )
            enqueue_seconds = time.perf_counter() - started
            print(f"enqueued {total} tasks in {enqueue_seconds * 1000:.0f} ms (one round trip per batch)")

            drain_started = time.perf_counter()
            await app.start_worker("async", max_workers=args.concurrency)
            finished = await _show_progress(app, total)
            drain_seconds = time.perf_counter() - drain_started
            await app.stop_worker()
            await _summarise(app, ids, finished, total, drain_seconds)
    if embedded:
        print(
            f"\nThe data stays in {DEFAULT_DEMO_FILE}: try `omniq info --url sqlite:///{DEFAULT_DEMO_FILE}`."
        )
    return 0


def _remove_previous_demo() -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(DEFAULT_DEMO_FILE + suffix)


async def _show_progress(app: AsyncOmniQ, total: int) -> int:
    bar = ProgressBar(total, label="running ")
    while True:
        done = _finished(await app.counts())
        if done >= total:
            bar.finish(done)
            return done
        bar.update(done)
        await asyncio.sleep(0.1)


def _finished(counts: dict[str, dict[str, int]]) -> int:
    final = (TaskStatus.COMPLETED.value, TaskStatus.DEAD.value)
    return sum(per_status.get(status, 0) for per_status in counts.values() for status in final)


async def _summarise(app: AsyncOmniQ, ids: list[str], finished: int, total: int, seconds: float) -> None:
    print("\nfirst results:")
    for task_id in ids[:5]:
        result = await app.get_result(task_id)
        if result is not None:
            took = (
                (result.finished_at - result.started_at).total_seconds() * 1000 if result.started_at else 0.0
            )
            print(f"  {task_id}  {result.status.value:<8} {result.value!s:<14} {took:6.1f} ms")
    retries = len(await app.events(types=[EventType.RETRY]))
    dead = await app.dead_letters()
    print("\ndead letters (out of attempts, kept with their error):")
    for task in dead:
        error = task.error.message if task.error else "?"
        print(f"  {task.id}  {task.func}  after {task.attempts} attempts: {error}")
    counts = await app.counts()
    completed = sum(per_status.get(TaskStatus.COMPLETED.value, 0) for per_status in counts.values())
    rate = finished / max(seconds, 1e-9)
    print(
        f"\nsummary: {finished}/{total} finished in {seconds:.2f} s ({rate:,.0f} tasks/s)"
        f"; {completed} completed, {len(dead)} dead, {retries} retries"
    )
