# ruff: noqa: S608 - the f-strings below interpolate only column lists and "?" placeholders.
"""The SQL the backend runs, in one place so that each statement can be read next to its indexes.

Every operation on a worker's hot path is one statement, so that it costs one round trip to the
connection's thread: batches travel as a multi-row ``VALUES`` list (the builders below make one
statement per row count; SQLite caches the compiled ones). Statements on the hot path name their
index (``INDEXED BY``): without statistics SQLite often prefers the equality on ``status`` in
``omniq_tasks_by_status`` and walks every pending task, and a missing index fails loudly instead
of turning into a scan. Status lists are spelled exactly as in the partial indexes of
:mod:`omniq.sqlite._schema`, whose conditions a query must repeat.
"""

from __future__ import annotations

import functools

from omniq.sqlite._rows import CLAIMED_COLUMNS, EVENT_COLUMNS, RESULT_COLUMNS, SCHEDULE_COLUMNS, TASK_COLUMNS

__all__ = [
    "CANCEL",
    "COUNT_TASKS",
    "DEDUP_HOLDERS",
    "DELETE_EVENTS",
    "DELETE_RESULTS",
    "DELETE_RESULTS_OF",
    "DELETE_TASKS",
    "DUE_SCHEDULES",
    "EXPIRE",
    "FINISH",
    "GET_RESULT",
    "GET_SCHEDULE",
    "GET_TASK",
    "HEARTBEAT",
    "INSERT_SCHEDULE",
    "PURGEABLE",
    "RECOVER_LEASES",
    "REQUEUE",
    "SELECT_EVENTS",
    "SELECT_SCHEDULES",
    "SELECT_TASKS",
    "SET_SCHEDULE_STATUS",
    "STORED_IDS",
    "TRIGGER_SCHEDULE",
    "UNCLAIM",
    "claim",
    "insert_events",
    "insert_tasks",
    "put_results",
    "values",
]


def values(rows: int, width: int) -> str:
    """``(?, ?), (?, ?)``: placeholders for ``rows`` rows of ``width`` values."""
    row = f"({', '.join('?' * width)})"
    return ", ".join([row] * rows)


def _width(columns: str) -> int:
    return columns.count(",") + 1


@functools.cache
def insert_tasks(rows: int) -> str:
    """Insert ``rows`` tasks given as ``TASK_COLUMNS`` values; a task whose id is already stored
    (an enqueue sent again) is left as it is."""
    return (
        f"INSERT INTO omniq_tasks ({TASK_COLUMNS}) VALUES {values(rows, _width(TASK_COLUMNS))} "
        "ON CONFLICT (id) DO NOTHING"
    )


@functools.cache
def put_results(rows: int) -> str:
    """Store or replace ``rows`` results given as ``RESULT_COLUMNS`` values."""
    placeholders = values(rows, _width(RESULT_COLUMNS))
    return f"INSERT OR REPLACE INTO omniq_results ({RESULT_COLUMNS}) VALUES {placeholders}"


@functools.cache
def insert_events(rows: int) -> str:
    """Append ``rows`` events given as ``EVENT_COLUMNS`` values."""
    return f"INSERT INTO omniq_events ({EVENT_COLUMNS}) VALUES {values(rows, _width(EVENT_COLUMNS))}"


_RUNNABLE = """
    SELECT seq, {rank} AS rank, priority, due_at FROM omniq_tasks INDEXED BY omniq_tasks_runnable
    WHERE queue = ? AND status IN ('pending', 'failed') AND due_at <= ?
      AND (expires_at IS NULL OR expires_at > ?)
    ORDER BY priority DESC, due_at, seq
    LIMIT ?
"""


@functools.cache
def claim(queues: int) -> str:
    """Lease the first tasks of ``queues`` queues in claim order, in one statement.

    Each queue's part walks ``omniq_tasks_runnable`` in claim order and stops after LIMIT rows;
    the outer LIMIT then serves earlier queues first. Expired rows are skipped and left for
    ``reap`` to report. Parameters: token, lease expiry, worker, now; per queue: queue, now, now,
    limit; then, for more than one queue, limit. RETURNING gives the rows in no particular order,
    as ``CLAIMED_COLUMNS`` and ``seq``.
    """
    if queues == 1:
        # One queue: its index walk is already in claim order; no merge, no sort, no final LIMIT.
        return f"""
    UPDATE omniq_tasks
    SET status = 'running', attempts = attempts + 1,
        lease_token = ?, lease_expires_at = ?, worker_id = ?, updated_at = ?
    WHERE seq IN (SELECT seq FROM ({_RUNNABLE.format(rank=0)}))
    RETURNING {CLAIMED_COLUMNS}, seq
    """
    parts = " UNION ALL ".join(f"SELECT * FROM ({_RUNNABLE.format(rank=rank)})" for rank in range(queues))
    return f"""
    UPDATE omniq_tasks
    SET status = 'running', attempts = attempts + 1,
        lease_token = ?, lease_expires_at = ?, worker_id = ?, updated_at = ?
    WHERE seq IN (SELECT seq FROM ({parts}) ORDER BY rank, priority DESC, due_at, seq LIMIT ?)
    RETURNING {CLAIMED_COLUMNS}, seq
    """


#: Settle the tasks listed in a JSON array of ids whose lease is ``token``, all to one status.
#: An ``IN`` list over the id index is far cheaper for SQLite than joining a ``VALUES`` list, and
#: a batch of outcomes is mostly one group (every success of one claim). The unary ``+`` keeps the
#: planner on the id index. Returns each settled id and whether anything waits on it (a column of
#: the row: a subquery on the edges here would scan them, see ``_schema._V4``).
#: Parameters: status, due_at or NULL (keep), error, now, ids, token.
FINISH = """
UPDATE omniq_tasks
SET status = ?, due_at = coalesce(?, due_at), error = ?, lease_token = NULL, lease_expires_at = NULL,
    updated_at = ?, attempts = attempts - ?
WHERE id IN (SELECT value FROM json_each(?)) AND lease_token = ? AND +status = 'running'
RETURNING id, has_dependents
"""


#: Send a leased task that cannot be read to ``dead`` with the reason. Parameters: error, now,
#: id, token.
BURY = """
UPDATE omniq_tasks SET status = 'dead', error = ?, lease_token = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id = ? AND lease_token = ?
"""


#: Live holders of the dedup keys in a JSON array (one parameter however many keys).
#: The ids of a JSON array that are stored tasks. Parameters: ids.
STORED_IDS = "SELECT id FROM omniq_tasks WHERE id IN (SELECT value FROM json_each(?))"

DEDUP_HOLDERS = """
SELECT dedup_key, id FROM omniq_tasks INDEXED BY omniq_tasks_dedup
WHERE dedup_key IN (SELECT value FROM json_each(?))
  AND status IN ('pending', 'waiting', 'running', 'failed') AND dedup_key IS NOT NULL
"""

#: Renew the leases given as a JSON array of ``[task_id, token]`` pairs (strings travel exactly
#: through JSON; the times are bound as parameters). Parameters: lease expiry, now, pairs.
HEARTBEAT = """
UPDATE omniq_tasks SET lease_expires_at = ?, updated_at = ?
FROM json_each(?) AS lease
WHERE omniq_tasks.id = json_extract(lease.value, '$[0]')
  AND omniq_tasks.lease_token = json_extract(lease.value, '$[1]')
RETURNING omniq_tasks.id, omniq_tasks.lease_token
"""

#: Give back the tasks of a claim that nobody received, as if it never happened (the attempt is
#: not counted). The unary ``+`` keeps the planner on the id index rather than on every running
#: task. Parameters: now, task ids as a JSON array, token.
UNCLAIM = """
UPDATE omniq_tasks
SET status = 'pending', attempts = attempts - 1, lease_token = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id IN (SELECT value FROM json_each(?)) AND lease_token = ? AND +status = 'running'
"""

#: Give back the tasks still leased under a token (a claim whose reply was lost). Parameters:
#: now, token.
RELEASE_CLAIM = """
UPDATE omniq_tasks
SET status = 'pending', attempts = attempts - 1, lease_token = NULL, lease_expires_at = NULL, updated_at = ?
WHERE status = 'running' AND lease_token = ?
"""

#: Leases that ran out: back to ``pending`` now, or ``dead`` on the last attempt.
#: Parameters: error for the dead, now, now, now.
RECOVER_LEASES = f"""
UPDATE omniq_tasks INDEXED BY omniq_tasks_leases
SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
    error = CASE WHEN attempts >= max_attempts THEN ? ELSE error END,
    due_at = CASE WHEN attempts >= max_attempts THEN due_at ELSE ? END,
    lease_token = NULL, lease_expires_at = NULL, updated_at = ?
WHERE status = 'running' AND lease_expires_at < ?
RETURNING {TASK_COLUMNS}, seq
"""

#: Tasks whose TTL passed before they started. Parameters: now, now.
EXPIRE = f"""
UPDATE omniq_tasks INDEXED BY omniq_tasks_ttl SET status = 'expired', updated_at = ?
WHERE status IN ('pending', 'failed', 'waiting') AND expires_at IS NOT NULL AND expires_at <= ?
RETURNING {TASK_COLUMNS}, seq
"""

GET_TASK = f"SELECT {TASK_COLUMNS} FROM omniq_tasks WHERE id = ?"

#: Followed by optional filters, then ``ORDER BY created_at, seq LIMIT ?``.
SELECT_TASKS = f"SELECT {TASK_COLUMNS} FROM omniq_tasks"

COUNT_TASKS = "SELECT queue, status, count(*) FROM omniq_tasks GROUP BY queue, status"

#: The worker a running task is leased to (no row if it is not running). Parameters: task id.
RUNNING_ON = "SELECT worker_id FROM omniq_tasks WHERE id = ? AND status = 'running'"

#: Parameters: now, task id.
CANCEL = f"""
UPDATE omniq_tasks
SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id = ? AND status NOT IN ('completed', 'dead', 'cancelled', 'expired')
RETURNING {TASK_COLUMNS}
"""

#: A requeued task keeps its dedup key unless another live task took the key meanwhile (the
#: unique index allows one live holder). Parameters: now, now, task id.
REQUEUE = f"""
UPDATE omniq_tasks
SET status = 'pending', attempts = 0, due_at = ?, expires_at = NULL, error = NULL, updated_at = ?,
    dedup_key = CASE WHEN EXISTS (
        SELECT 1 FROM omniq_tasks AS holder
        WHERE holder.dedup_key = omniq_tasks.dedup_key
          AND holder.status IN ('pending', 'waiting', 'running', 'failed') AND holder.dedup_key IS NOT NULL
    ) THEN NULL ELSE dedup_key END
WHERE id = ? AND status IN ('dead', 'cancelled', 'expired')
RETURNING {TASK_COLUMNS}
"""

#: Followed by ``AND`` and conditions on ``t`` (the ids to purge). A task that others still
#: wait on is kept: its dependents would otherwise wait for ever (see ``_dependencies``).
DELETE_TASKS = "DELETE FROM omniq_tasks AS t WHERE t.has_dependents = 0"

#: Up to ``limit`` (-1: all) ids of tasks in a final status last changed before a time, read
#: through ``omniq_tasks_finished``: the ``status IN`` term is that index's, word for word.
PURGEABLE = """
SELECT t.id FROM omniq_tasks AS t
WHERE t.status IN ('cancelled', 'completed', 'dead', 'expired')
  AND t.status = ? AND t.updated_at < ? AND t.has_dependents = 0
LIMIT ?
"""

GET_RESULT = f"SELECT {RESULT_COLUMNS} FROM omniq_results WHERE task_id = ?"

DELETE_RESULTS = "DELETE FROM omniq_results WHERE expires_at IS NOT NULL AND expires_at <= ?"

#: The results of the task ids in the JSON array ``?``.
DELETE_RESULTS_OF = "DELETE FROM omniq_results WHERE task_id IN (SELECT value FROM json_each(?))"

#: Followed by optional filters, then ``ORDER BY at, id LIMIT ?``.
SELECT_EVENTS = f"SELECT {EVENT_COLUMNS} FROM omniq_events"

DELETE_EVENTS = "DELETE FROM omniq_events WHERE at < ?"


# -- schedules ---------------------------------------------------------------------------------

INSERT_SCHEDULE = (
    f"INSERT INTO omniq_schedules ({SCHEDULE_COLUMNS}) VALUES ({values(1, _width(SCHEDULE_COLUMNS))[1:-1]})"
)

GET_SCHEDULE = f"SELECT {SCHEDULE_COLUMNS} FROM omniq_schedules WHERE id = ?"

#: Followed by an optional ``WHERE status = ?``, then ``ORDER BY created_at, id LIMIT ?``.
SELECT_SCHEDULES = f"SELECT {SCHEDULE_COLUMNS} FROM omniq_schedules"

DUE_SCHEDULES = f"""
SELECT {SCHEDULE_COLUMNS} FROM omniq_schedules INDEXED BY omniq_schedules_due
WHERE status = 'active' AND next_run_at <= ?
ORDER BY next_run_at, id LIMIT ?
"""

#: The claim of one run: it changes the row only while the run is still the one read.
TRIGGER_SCHEDULE = """
UPDATE omniq_schedules
SET next_run_at = ?, status = ?, runs = ?, last_run_at = ?, last_task_id = ?, updated_at = ?
WHERE id = ? AND status = 'active' AND next_run_at = ?
"""

#: Parameters: new status, next run, now, id, then the JSON array of statuses it may change from.
SET_SCHEDULE_STATUS = f"""
UPDATE omniq_schedules SET status = ?, next_run_at = ?, updated_at = ?
WHERE id = ? AND status IN (SELECT value FROM json_each(?))
RETURNING {SCHEDULE_COLUMNS}
"""
