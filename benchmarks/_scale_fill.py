"""Filling a scale case's store before its drain (untimed): pending tasks, history, dependencies.

History is made by the calls a worker makes, without a worker: the tasks are enqueued through
``enqueue_many`` (with their ``enqueued`` events), leased with the backend's ``claim``, and settled
with ``finish_with_results`` with the result, the ``executing`` and ``completed`` events and the
``resolve_dependencies`` call that the worker's ``Settlement.success`` and settle loop produce.
Batches of :data:`CHUNK` instead of the worker's 50 make it several times faster than a drain, and
on an engine whose drain slows down as history grows (what the table measures) far faster still.
:func:`check_fill` compares what it stores with what a real worker process stores.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

from _harness import Deadline, WorkerProcess, run_async
from _scale_stores import Shape, Store
from omniq.core import AsyncOmniQ
from omniq.core.codec import decode_spec
from omniq.core.models import EventType
from omniq.core.worker._outcomes import Settlement, task_event

__all__ = [
    "CHUNK",
    "NOOP",
    "PARENT_DELAY",
    "check_fill",
    "expect_counts",
    "fill_edges",
    "fill_history",
    "fill_pending",
    "shape_differences",
]

#: The task every drain runs: a coroutine that returns ``None``.
NOOP = "omniq.core.testing.tasks:async_noop"
#: Tasks per enqueue call and per claim of a fill.
CHUNK = 5_000
#: Seconds until the parents of the waiting tasks are due: they never run during a case.
PARENT_DELAY = 86_400.0
#: Tasks of each store compared by :func:`check_fill`.
CHECK_TASKS = 200


async def fill_pending(app: AsyncOmniQ, count: int) -> None:
    """``count`` pending no-op tasks, enqueued as an application does (events included)."""
    for start in range(0, count, CHUNK):
        await app.enqueue_many(NOOP, [{}] * min(CHUNK, count - start))
        await app.recorder.flush()


async def fill_history(app: AsyncOmniQ, count: int) -> None:
    """``count`` completed no-op tasks with their results and events, stored by the backend calls
    a worker makes (see the module's docstring)."""
    value_format, value = app.serializer.dumps(None)
    # Named as a worker names itself, so that results and events take the same room.
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    queue = app.task_queue
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        await app.enqueue_many(NOOP, [{}] * size)
        now = time.time()
        records = await queue.claim(
            ["default"],
            limit=size,
            worker_id=worker_id,
            lease_token=uuid.uuid4().hex,
            lease_expires_at=now + app.settings.lease_ttl,
            now=now,
        )
        if len(records) != size:
            raise RuntimeError(f"history fill: claimed {len(records)} of {size} tasks")
        app.recorder.record_many(task_event(record, EventType.EXECUTING, now) for record in records)
        settled = [
            Settlement.success(
                record,
                decode_spec(record),
                value_format=value_format,
                value=value,
                returned=None,
                started_at=now,
            )
            for record in records
        ]
        results = [s.result for s in settled if s.result is not None]
        report = await queue.finish_with_results([s.outcome for s in settled], results)
        if len(report.accepted) != size:
            raise RuntimeError(f"history fill: {len(report.accepted)} of {size} outcomes accepted")
        await queue.resolve_dependencies(report.waited_on, time.time())
        for settlement in settled:
            app.recorder.record_many(settlement.events)
        await app.recorder.flush()


async def fill_edges(app: AsyncOmniQ, waiting: int, parents: int = 2) -> None:
    """``waiting`` tasks that each depend on the same ``parents`` tasks, due in a day: every one of
    them stays ``waiting`` (``waiting * parents`` edges)."""
    parent_ids = await app.enqueue_many(NOOP, [{}] * parents, run_in=PARENT_DELAY)
    for start in range(0, waiting, CHUNK):
        await app.enqueue_many(NOOP, [{}] * min(CHUNK, waiting - start), depends_on=parent_ids)
        await app.recorder.flush()


async def expect_counts(app: AsyncOmniQ, expected: dict[str, int]) -> None:
    """Raise unless the store holds exactly these numbers of tasks per status."""
    counts: dict[str, int] = {}
    for per_status in (await app.counts()).values():
        for status, n in per_status.items():
            counts[status] = counts.get(status, 0) + n
    wanted = {status: n for status, n in expected.items() if n}
    if counts != wanted:
        raise RuntimeError(f"the fill left {counts} tasks per status instead of {wanted}")


def shape_differences(filled: Shape, drained: Shape) -> list[str]:
    """What differs between two shapes, one line each (empty: the same)."""
    lines = []
    for what in sorted(filled.keys() | drained.keys()):
        mine, theirs = filled.get(what, "absent"), drained.get(what, "absent")
        if mine != theirs:
            lines.append(f"{what}: filled {mine}, drained {theirs}")
    return lines


async def _filled_shape(store: Store) -> Shape:
    async with AsyncOmniQ(store.url) as app:
        await fill_history(app, CHECK_TASKS)
    return await store.shape(CHECK_TASKS)


def check_fill(filled: Store, drained: Store, workdir: Path, timeout: float) -> list[str]:
    """Fill ``filled`` with :data:`CHECK_TASKS` tasks of history, have a worker process drain as
    many from ``drained`` (two fresh stores of one engine), and return how their shapes differ."""
    mine = run_async(_filled_shape(filled), timeout, "fill check")

    async def enqueue() -> None:
        async with AsyncOmniQ(drained.url) as app:
            await fill_pending(app, CHECK_TASKS)

    run_async(enqueue(), timeout, "fill check")
    deadline = Deadline(timeout, "fill check drain")
    args = [drained.url, "--kind", "async", "--max-workers", "50", "--target", str(CHECK_TASKS)]
    with WorkerProcess("omniq", args, workdir) as worker:
        worker.expect("ready", deadline)
        worker.release()
        worker.expect("done", deadline)
    theirs = run_async(drained.shape(CHECK_TASKS), timeout, "fill check")
    return shape_differences(mine, theirs)
