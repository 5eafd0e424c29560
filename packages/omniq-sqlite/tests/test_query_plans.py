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


@pytest.mark.parametrize("statement", [dependencies.ANY_DEPENDENT, dependencies.FINISHED_EDGES])
async def test_a_finished_task_finds_its_dependents_by_primary_key(
    backend: SQLiteBackend, statement: str
) -> None:
    # Every finish batch asks whether anything waits on it: that must stay a lookup per id.
    plan = await _plan(backend, statement)
    assert "USING PRIMARY KEY (dependency_id=?)" in plan
    assert not [line for line in plan.splitlines() if line.startswith("SCAN") and "json_each" not in line]
