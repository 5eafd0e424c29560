"""The statements on the hot path read through their indexes (``EXPLAIN QUERY PLAN``).

Plans do not depend on the data, so an empty database shows them. A full scan of ``omniq_tasks``
here would make every claim or reap slower as finished tasks pile up.
"""

from __future__ import annotations

import pytest

from omniq.sqlite import SQLiteBackend
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
        (sql.finish(3), "sqlite_autoindex_omniq_tasks_1 (id=?)"),
        (sql.UNCLAIM, "sqlite_autoindex_omniq_tasks_1 (id=?)"),
        (sql.GET_RESULT, "sqlite_autoindex_omniq_results_1 (task_id=?)"),
        (sql.DELETE_RESULTS, "omniq_results_expiry"),
        (sql.DELETE_EVENTS, "omniq_events_by_time"),
    ],
)
async def test_each_hot_statement_uses_its_index(backend: SQLiteBackend, statement: str, index: str) -> None:
    plan = await _plan(backend, statement)
    assert f"USING INDEX {index}" in plan
    assert "SCAN omniq_tasks" not in plan


async def test_events_of_one_task_come_in_order_from_the_index(backend: SQLiteBackend) -> None:
    plan = await _plan(backend, f"{sql.SELECT_EVENTS} WHERE task_id = ? ORDER BY at, id")
    assert "USING INDEX omniq_events_by_task (task_id=?)" in plan
    assert "TEMP B-TREE" not in plan
