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
        # By primary key (batches: see the test after the next).
        ("heartbeat", (1.0, 1.0, ["a"], '{"a": "t"}'), "tasks_pkey"),
        ("finish", ('{"a": ["t", "completed", 1.0, null, null]}', ["a"]), "tasks_pkey"),
        ("unclaim", (1.0, ["a"], "t"), "tasks_pkey"),
        ("release_claim", (1.0, "t"), "tasks_leases"),
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


async def test_dead_letters_are_listed_from_their_own_index(busy: PostgresBackend) -> None:
    query = f"{busy._sql.select_tasks} WHERE status = 'dead' ORDER BY created_at, seq LIMIT $1"
    scans = _scans(await _plan(busy, query, 100))
    assert ("Index Scan", "tasks", "tasks_dead") in scans
    assert not any(kind == "Sort" for kind, _, _ in scans)


def _literal(value: Any) -> str:
    """A parameter written into the SQL text (``EXPLAIN EXECUTE`` takes no bound parameters)."""
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(item) for item in value) + "]::text[]"
    if isinstance(value, float | int):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@pytest.fixture
async def running_after_statistics(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> tuple[PostgresBackend, list[TaskRecord]]:
    """Statistics taken while nothing ran (what autovacuum usually sees), then thousands running."""
    now = time.time()
    await backend.enqueue([make_task(now=now, status=TaskStatus.COMPLETED) for _ in range(HISTORY)])
    await backend.enqueue([make_task(now=now) for _ in range(6_000)])
    await admin.execute(f'ANALYZE "{backend.schema}".tasks')
    running = await backend.claim(
        ["default"], limit=5_000, worker_id="w", lease_token="t", lease_expires_at=now + 60, now=now + 1
    )
    return backend, running


def _finish_parameters(batch: list[TaskRecord]) -> tuple[Any, ...]:
    outcomes = {r.id: [r.lease_token, "completed", 1.0, None, None] for r in batch}
    return json.dumps(outcomes), [r.id for r in batch]


def _heartbeat_parameters(batch: list[TaskRecord]) -> tuple[Any, ...]:
    return 1.0, 1.0, [r.id for r in batch], json.dumps({r.id: r.lease_token for r in batch})


def _unclaim_parameters(batch: list[TaskRecord]) -> tuple[Any, ...]:
    return 1.0, [r.id for r in batch], "t"


_KINDS = {
    "finish": "jsonb, text[]",
    "heartbeat": "float8, float8, text[], jsonb",
    "unclaim": "float8, text[], text",
}


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize(
    ("statement", "parameters"),
    [("finish", _finish_parameters), ("heartbeat", _heartbeat_parameters), ("unclaim", _unclaim_parameters)],
)
async def test_a_batch_is_settled_by_primary_key_whatever_the_statistics_say(
    running_after_statistics: tuple[PostgresBackend, list[TaskRecord]],
    admin: Any,
    mode: str,
    statement: str,
    parameters: Callable[[list[TaskRecord]], tuple[Any, ...]],
) -> None:
    # The statistics say almost nothing runs; 5,000 tasks do. A plan that joined the batch with
    # the running rows could loop over the batch once per running row (seconds per call). The
    # plan of a prepared statement after its fifth run is the generic one, planned without the
    # parameters' values, so both kinds are checked. Knowing the values, the planner may scan a
    # table only some dozens of times larger than the batch instead of probing the index for
    # each id: either costs about as much as the batch.
    backend, running = running_after_statistics
    values = parameters(running[:500])
    scans = await _prepared_plan(admin, getattr(backend._sql, statement), _KINDS[statement], values, mode)
    kinds_seen = {kind for kind, _, _ in scans}
    assert not kinds_seen & {"Nested Loop", "Hash Join", "Merge Join", "Function Scan"}, scans
    assert "tasks_leases" not in {index for _, _, index in scans}, scans
    if mode == "force_generic_plan":  # what a busy worker runs: index probes, one per task
        assert "tasks_pkey" in {index for _, _, index in scans}, scans


async def _prepared_plan(
    admin: Any, sql: str, kinds: str, values: tuple[Any, ...], mode: str
) -> list[tuple[str, str | None, str | None]]:
    """The plan ``EXECUTE`` uses under ``plan_cache_mode = mode``."""
    async with admin.transaction():
        await admin.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await admin.execute(f"PREPARE hot({kinds}) AS {sql}")
        try:
            literals = ", ".join(_literal(value) for value in values)
            rows = await admin.fetch(f"EXPLAIN (FORMAT JSON) EXECUTE hot({literals})")
        finally:
            await admin.execute("DEALLOCATE hot")
    return _scans(json.dumps(json.loads(rows[0][0])))


@pytest.fixture
async def crowded_statistics(backend: PostgresBackend, admin: Any, make_task: TaskFactory) -> float:
    """Statistics taken while thousands of tasks were runnable, running past their lease and past
    their TTL; returns the time from which those are due."""
    now = time.time()
    await backend.enqueue([make_task(now=now, status=TaskStatus.COMPLETED) for _ in range(HISTORY)])
    await backend.enqueue([make_task(now=now) for _ in range(30_000)])
    await backend.enqueue([make_task(now=now, queue="ttl", expires_at=now + 1) for _ in range(5_000)])
    await backend.claim(
        ["default"], limit=5_000, worker_id="w", lease_token="t", lease_expires_at=now + 1, now=now
    )
    await admin.execute(f'ANALYZE "{backend.schema}".tasks')
    return now + 10


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize(
    ("statement", "kinds", "parameters"),
    [
        (
            "claim",
            "text[], float8, int, text, float8, text",
            lambda now: (["default"], now, 50, "t2", now, "w"),
        ),
        ("recover_leases", "float8, text", lambda now: (now, "lapsed")),
        ("expire", "float8", lambda now: (now,)),
    ],
)
async def test_picked_rows_are_changed_by_primary_key_whatever_the_statistics_say(
    backend: PostgresBackend,
    crowded_statistics: float,
    admin: Any,
    mode: str,
    statement: str,
    kinds: str,
    parameters: Callable[[float], tuple[Any, ...]],
) -> None:
    # With statistics showing thousands of candidates, a generic plan cannot know how few rows
    # the CTE picks; joined to the table, it hashed them against a scan of every row (a claim of
    # 50 read 300,000 rows). Reached by primary key, they cost what was picked.
    scans = await _prepared_plan(
        admin, getattr(backend._sql, statement), kinds, parameters(crowded_statistics), mode
    )
    assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans
    assert not any(kind in ("Hash Join", "Merge Join") for kind, _, _ in scans), scans
    assert "tasks_pkey" in {index for _, _, index in scans}, scans


@pytest.fixture(params=["two tasks with many dependents", "many tasks with one dependent each"])
async def waited_on(request: pytest.FixtureRequest, busy: PostgresBackend, admin: Any) -> PostgresBackend:
    """``busy`` plus the edges of 20,000 waiting tasks and the marks of the tasks they wait on,
    then ``ANALYZE``. With two tasks waited on, the statistics say that half of the edges match
    any dependency id."""
    s = f'"{busy.schema}"'
    parent = "'parent-' || (n % 2)" if request.param.startswith("two") else "'dep-' || n"
    await admin.execute(
        f"INSERT INTO {s}.dependencies SELECT {parent}, 'task-' || n FROM generate_series(1, {HISTORY}) AS n"
    )
    await admin.execute(f"UPDATE {s}.tasks SET has_dependents = true WHERE status = 'pending'")
    await admin.execute(f"ANALYZE {s}.dependencies")
    await admin.execute(f"ANALYZE {s}.tasks")
    return busy


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize("ids", [["a"], BATCH], ids=["one id", "a batch"])
@pytest.mark.parametrize("statement", ["any_dependent", "mark_waited_on", "unmark_resolved", "lock_statuses"])
async def test_marks_are_read_and_set_through_the_primary_key_whatever_the_statistics_say(
    waited_on: PostgresBackend, admin: Any, mode: str, ids: list[str], statement: str
) -> None:
    # ``any_dependent`` runs after every finish batch. It used to probe the edges of each id;
    # with two tasks waited on, the planner expected half the edges to match and scanned the
    # edge table for each id until one did, which, for the finished tasks a worker resolves
    # (nothing waits on them), was all of it: 50,000 edges made a drain 0.04x as fast.
    sql = getattr(waited_on._deps, statement)
    scans = await _prepared_plan(admin, sql, "text[]", (ids,), mode)
    assert "dependencies" not in {relation for _, relation, _ in scans}, scans
    assert not any(kind in ("Nested Loop", "Hash Join", "Merge Join") for kind, _, _ in scans), scans
    # Knowing 500 ids, the planner may read this small table instead (as for a finish, see
    # above); the plan a busy worker runs, and any plan for a few ids, probes the primary key.
    if mode == "force_generic_plan" or len(ids) == 1:
        assert "tasks_pkey" in {index for _, _, index in scans}, scans
        assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans


async def test_the_reaper_reads_only_the_finished_tasks_left_unresolved(waited_on: PostgresBackend) -> None:
    # It used to join every edge with its dependency's row on each reap.
    scans = _scans(await _plan(waited_on, waited_on._deps.unresolved_finished))
    assert "tasks_unresolved" in {index for _, _, index in scans}, scans
    assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans
    assert "dependencies" not in {relation for _, relation, _ in scans}, scans


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
async def test_the_edges_of_a_finished_task_are_taken_by_primary_key(
    waited_on: PostgresBackend, admin: Any, mode: str
) -> None:
    # Only marked tasks get here (see ``unmark_resolved``). One with a single dependent beside two
    # with thousands each: its edge is found through the primary key, not by reading the others.
    # (A generic plan cannot know which task it gets; the plan cache keeps the custom plans,
    # which are far cheaper here.)
    scans = await _prepared_plan(admin, waited_on._deps.take_edges, "text[]", (["dep-1"],), mode)
    assert "tasks_pkey" in {index for _, _, index in scans}, scans
    assert not any(kind == "Seq Scan" and relation == "tasks" for kind, relation, _ in scans), scans
    if mode == "force_custom_plan":
        assert "dependencies_pkey" in {index for _, _, index in scans}, scans
        assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize(
    ("statement", "kinds", "values"),
    [
        ("cancel_waiting", "float8, text[], jsonb", (1.0, ["w-1", "w-2"], '{"w-1": "e", "w-2": "e"}')),
        ("count_down", "float8, text[], jsonb", (1.0, ["w-1", "w-2"], '{"w-1": 1, "w-2": 1}')),
    ],
)
async def test_waiting_tasks_are_changed_by_primary_key_whatever_the_statistics_say(
    busy: PostgresBackend, admin: Any, mode: str, statement: str, kinds: str, values: tuple[Any, ...]
) -> None:
    # Statistics showing thousands of waiting tasks: joined with its batch, a resolve could be
    # planned as a scan of the table for a handful of tasks.
    s = f'"{busy.schema}"'
    await admin.execute(
        f"""INSERT INTO {s}.tasks (id, queue, func, priority, status, due_at, created_at, updated_at,
            attempts, max_attempts, data, depends_on, waiting_on)
        SELECT 'w-' || n, 'default', 'm:f', 0, 'waiting', 1, 1, 1, 0, 1, '', '[]', 2
        FROM generate_series(1, {HISTORY}) AS n"""
    )
    await admin.execute(f"ANALYZE {s}.tasks")
    scans = await _prepared_plan(admin, getattr(busy._deps, statement), kinds, values, mode)
    assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans
    assert not any(kind in ("Hash Join", "Merge Join") for kind, _, _ in scans), scans
    assert "tasks_pkey" in {index for _, _, index in scans}, scans
