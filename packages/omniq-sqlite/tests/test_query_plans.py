"""The statements on the hot path read through their indexes (``EXPLAIN QUERY PLAN``).

Plans do not depend on the data, so an empty database shows them. A full scan of ``omniq_tasks``
here would make every claim or reap slower as finished tasks pile up.
"""

from __future__ import annotations

import pytest

from omniq.sqlite import SQLiteBackend
from omniq.sqlite import _dependencies as dependencies
from omniq.sqlite import _statements as sql


async def _plan(backend: SQLiteBackend, statement: str) -> str:
    rows = await backend._db.execute(f"EXPLAIN QUERY PLAN {statement}", [None] * statement.count("?"))
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("queues", [1, 3])
async def test_claim_walks_the_runnable_index_in_claim_order(backend: SQLiteBackend, queues: int) -> None:
    plan = await _plan(backend, sql.claim(queues))
    # Each queue's part reads the index in claim order (no sort of its own), so its LIMIT stops
    # the walk early; only the few rows the parts return are sorted across queues.
    assert plan.count("SEARCH omniq_tasks USING INDEX omniq_tasks_runnable (queue=?)") == queues
    assert plan.count("TEMP B-TREE") <= 1
    assert "SCAN omniq_tasks" not in plan


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (sql.RECOVER_LEASES, "omniq_tasks_leases"),
        (sql.EXPIRE, "omniq_tasks_ttl"),
        (sql.DEDUP_HOLDERS, "omniq_tasks_dedup"),
        (sql.HEARTBEAT, "sqlite_autoindex_omniq_tasks_1 (id=?)"),
        (sql.FINISH, "sqlite_autoindex_omniq_tasks_1 (id=?)"),
        (sql.UNCLAIM, "sqlite_autoindex_omniq_tasks_1 (id=?)"),
        (sql.DELETE_RESULTS, "omniq_results_expiry"),
        (sql.PURGEABLE, "omniq_tasks_finished (status=? AND updated_at<?)"),
        (sql.DELETE_EVENTS, "omniq_events_by_time"),
        (sql.DUE_SCHEDULES, "omniq_schedules_due"),
    ],
)
async def test_each_hot_statement_uses_its_index(backend: SQLiteBackend, statement: str, index: str) -> None:
    plan = await _plan(backend, statement)
    assert f"INDEX {index}" in plan  # "USING INDEX" or "USING COVERING INDEX"
    assert "SCAN omniq_tasks" not in plan


async def test_a_result_is_read_by_its_primary_key(backend: SQLiteBackend) -> None:
    # omniq_results is a WITHOUT ROWID table: the rows live in the primary-key B-tree itself.
    assert "USING PRIMARY KEY (task_id=?)" in await _plan(backend, sql.GET_RESULT)


async def test_dead_letters_are_listed_from_their_own_index(backend: SQLiteBackend) -> None:
    query = f"{sql.SELECT_TASKS} WHERE status = 'dead' ORDER BY created_at, seq LIMIT ?"
    plan = await _plan(backend, query)
    assert "USING INDEX omniq_tasks_dead" in plan
    assert "TEMP B-TREE" not in plan


async def test_events_of_one_task_come_in_order_from_the_index(backend: SQLiteBackend) -> None:
    plan = await _plan(backend, f"{sql.SELECT_EVENTS} WHERE task_id = ? ORDER BY at, id")
    assert "USING INDEX omniq_events_by_task (task_id=?)" in plan
    assert "TEMP B-TREE" not in plan


@pytest.fixture(params=["empty", "many edges, analyzed"])
async def edges(request: pytest.FixtureRequest, backend: SQLiteBackend) -> SQLiteBackend:
    """The backend, empty or with 20,000 edges on two tasks and the statistics of ``ANALYZE``
    (the planner's estimates then say that half of the edges match any dependency id)."""
    if request.param != "empty":
        await backend._db.execute(
            """
            INSERT INTO omniq_dependencies (dependency_id, task_id)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
            SELECT 'parent-' || (i % 2), 'child-' || i FROM n
            """
        )
        await backend._db.execute("ANALYZE")
    return backend


#: Every statement that reads ``omniq_dependencies``: the name the plan gives the table, and how
#: it must be read (``None``: not at all).
EDGE_READS = {
    "finish": (sql.FINISH, "omniq_dependencies", None),  # the mark is a column of the row
    "edges of finished tasks": (dependencies.FINISHED_EDGES, "d", "PRIMARY KEY (dependency_id=?)"),
    "delete edges": (dependencies.DELETE_EDGES, "omniq_dependencies", "PRIMARY KEY (dependency_id=?)"),
    "purge": (
        f"{dependencies.DELETE_EDGES_OF_PURGED} AND t.status = ?)",
        "omniq_dependencies",
        "PRIMARY KEY (dependency_id=? AND task_id=?)",
    ),
    "reap": (dependencies.UNRESOLVED_FINISHED, "omniq_dependencies", None),
}


@pytest.mark.parametrize("name", EDGE_READS)
async def test_edges_are_read_by_primary_key_only(edges: SQLiteBackend, name: str) -> None:
    # A finish used to ask for each settled task whether an edge named it, in a subquery of its
    # RETURNING clause; SQLite 3.40 scanned every edge for that, so each finished task cost as
    # much as all the edges (50,000 waiting tasks: 0.03x the drain of a store without them).
    statement, table, lookup = EDGE_READS[name]
    lines = (await _plan(edges, statement)).splitlines()
    assert not [line for line in lines if line.startswith(f"SCAN {table}")]
    if lookup is None:
        assert not [line for line in lines if f" {table} " in f"{line} "]
    else:
        assert f"SEARCH {table} USING {lookup}" in lines


@pytest.mark.parametrize(
    "statement",
    [
        dependencies.ANY_DEPENDENT,
        dependencies.MARK_WAITED_ON,
        dependencies.UNMARK_RESOLVED,
        dependencies.STATUSES,
        dependencies.SET_WAITING_ON,
        dependencies.COUNT_DOWN,
        dependencies.RELEASE,
        dependencies.CANCEL_WAITING,
    ],
)
async def test_tasks_are_read_and_changed_by_id(edges: SQLiteBackend, statement: str) -> None:
    plan = await _plan(edges, statement)
    assert "SEARCH omniq_tasks USING INDEX sqlite_autoindex_omniq_tasks_1 (id=?)" in plan
    assert "omniq_dependencies" not in plan


async def test_the_reaper_reads_only_the_finished_tasks_left_unresolved(edges: SQLiteBackend) -> None:
    # Its partial index holds exactly those: as a rule none, however many tasks wait.
    plan = await _plan(edges, dependencies.UNRESOLVED_FINISHED)
    assert "INDEX omniq_tasks_unresolved" in plan
    assert "SCAN omniq_tasks\n" not in f"{plan}\n"
