"""The statements on the hot path read through their partial indexes, however much history there is.

Plans depend on the table's statistics, so the tests first fill the table the way a long-running
queue looks: many finished tasks, a few runnable and running ones; then ``ANALYZE``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from omniq.core.models import TaskStatus
from omniq.core.records import TaskRecord
from omniq.postgres import PostgresBackend

TaskFactory = Callable[..., TaskRecord]

HISTORY = 20_000

#: A large batch (the worker's default claim is up to 500 tasks).
BATCH = [f"id-{n}" for n in range(500)]


@pytest.fixture
async def busy(backend: PostgresBackend, admin: Any, make_task: TaskFactory) -> PostgresBackend:
    now = time.time()
    done = [make_task(now=now, status=TaskStatus.COMPLETED, queue=f"q{n % 3}") for n in range(HISTORY)]
    await backend.enqueue(done)
    await backend.enqueue([make_task(now=now, queue=f"q{n % 3}") for n in range(60)])
    await backend.claim(
        ["q0"], limit=10, worker_id="w", lease_token="t", lease_expires_at=now + 60, now=now + 1
    )
    await admin.execute(f'ANALYZE "{backend.schema}".tasks')
    return backend


async def _plan(backend: PostgresBackend, statement: str, *parameters: Any) -> str:
    # EXPLAIN (no ANALYZE) plans the statement without running it; FORMAT JSON names every node.
    async with backend._db.pool.acquire() as conn:
        rows = await conn.fetch(f"EXPLAIN (FORMAT JSON) {statement}", *parameters)
    return json.dumps(json.loads(rows[0][0]))


def _scans(plan: str) -> list[tuple[str, str | None, str | None]]:
    found: list[tuple[str, str | None, str | None]] = []

    def walk(node: dict[str, Any]) -> None:
        found.append((node["Node Type"], node.get("Relation Name"), node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return found


@pytest.mark.parametrize("limit", [10, 500])
@pytest.mark.parametrize("queues", [["q0"], ["q0", "q1", "q2"]])
async def test_claim_walks_the_runnable_index_in_claim_order(
    busy: PostgresBackend, queues: list[str], limit: int
) -> None:
    now = time.time() + 1
    scans = _scans(await _plan(busy, busy._sql.claim, queues, now, limit, "t2", now + 60, "w"))
    # Finished rows are never read: tasks are found through the partial index of runnable rows
    # (walked in claim order, or for a batch larger than the runnable rows, gathered and sorted)
    # and updated by primary key.
    assert {index for _, _, index in scans if index} == {"tasks_runnable", "tasks_pkey"}
    assert not any(kind == "Seq Scan" for kind, _, _ in scans)
    if limit == 10:  # a walk in index order stops after the batch: nothing to sort
        assert not any(kind == "Sort" for kind, _, _ in scans)


@pytest.mark.parametrize(
    ("statement", "parameters", "index"),
    [
        ("recover_leases", (time.time(), "{}"), "tasks_leases"),
        ("expire", (time.time(),), "tasks_ttl"),
        # By id, or (large batches) by a join against the running rows only.
        ("heartbeat", (1.0, 1.0, ["a"], ["t"]), "tasks_pkey tasks_leases"),
        ("heartbeat", (1.0, 1.0, BATCH, ["t"] * 500), "tasks_pkey tasks_leases"),
        ("finish", (["a"], ["t"], ["completed"], [1.0], [None], [None]), "tasks_pkey tasks_leases"),
        (
            "finish",
            (BATCH, ["t"] * 500, ["completed"] * 500, [1.0] * 500, [None] * 500, [None] * 500),
            "tasks_pkey tasks_leases",
        ),
        ("unclaim_tokens", (1.0, ["t"]), "tasks_leases"),
        ("dedup_holders", (["k"],), "tasks_dedup"),
        ("get_task", ("a",), "tasks_pkey"),
    ],
)
async def test_each_hot_statement_uses_its_index(
    busy: PostgresBackend, statement: str, parameters: tuple[Any, ...], index: str
) -> None:
    scans = _scans(await _plan(busy, getattr(busy._sql, statement), *parameters))
    assert any(found in index.split() for _, _, found in scans), scans
    assert not any(kind == "Seq Scan" and relation == "tasks" for kind, relation, _ in scans), scans


async def test_a_scheduler_tick_reads_due_schedules_from_their_own_index(
    backend: PostgresBackend, admin: Any
) -> None:
    now = time.time()
    # Many schedules that are paused or ended, a few active ones.
    await admin.execute(
        f'''INSERT INTO "{backend.schema}".schedules
        SELECT 's' || n, 'm:f', 'default', CASE WHEN n % 100 = 0 THEN 'active' ELSE 'finished' END,
            CASE WHEN n % 100 = 0 THEN $1 + n ELSE NULL END, $1, $1, 0, NULL, NULL, ''::bytea
        FROM generate_series(1, 20000) AS n''',
        now,
    )
    await admin.execute(f'ANALYZE "{backend.schema}".schedules')
    scans = _scans(await _plan(backend, backend._schedule_sql.due, now, 100))
    assert ("Index Scan", "schedules", "schedules_due") in scans, scans
    assert not any(kind in ("Sort", "Seq Scan") for kind, _, _ in scans), scans


async def test_resolving_when_nothing_waits_probes_the_edges_primary_key(
    busy: PostgresBackend, admin: Any
) -> None:
    # Edges of many waiting tasks, some of them one large fan-in.
    await admin.execute(
        f'''INSERT INTO "{busy.schema}".dependencies
        SELECT CASE WHEN n % 2 = 0 THEN 'fan-in' ELSE 'dep-' || n END, 'task-' || n
        FROM generate_series(1, {HISTORY}) AS n'''
    )
    await admin.execute(f'ANALYZE "{busy.schema}".dependencies')
    for ids in (["a"], BATCH):
        scans = _scans(await _plan(busy, busy._deps.any_dependent, ids))
        assert any(index == "dependencies_pkey" for _, _, index in scans), scans
        assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans


async def test_dead_letters_are_listed_from_their_own_index(busy: PostgresBackend) -> None:
    query = f"{busy._sql.select_tasks} WHERE status = 'dead' ORDER BY created_at, seq LIMIT $1"
    scans = _scans(await _plan(busy, query, 100))
    assert ("Index Scan", "tasks", "tasks_dead") in scans
    assert not any(kind == "Sort" for kind, _, _ in scans)
