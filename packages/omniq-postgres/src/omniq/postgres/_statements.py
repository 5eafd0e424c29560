# ruff: noqa: S608 - the f-strings below interpolate only a validated schema name and column lists.
"""The SQL the backend runs, in one place so that each statement can be read next to its indexes.

Every operation on a worker's hot path is one statement, so one round trip: a batch travels as
one JSON parameter (or one array), so a batch of any size is the same prepared statement. Plans
must not depend on statistics that swing with the moment they were taken (how many tasks ran
then): statements on a batch of known tasks reach them by primary key. Status lists are spelled
exactly as in the partial indexes of :mod:`omniq.postgres._schema`, whose conditions a query must
imply for the planner to use them.
"""

from __future__ import annotations

from omniq.postgres._rows import EVENT_COLUMNS, RESULT_COLUMNS, TASK_COLUMNS

__all__ = ["Statements", "append_events"]

_LIVE = "('pending', 'waiting', 'running', 'failed')"


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


def append_events(s: str, parameter: int, condition: str = "true") -> str:
    """Append the events of the JSON array ``$parameter`` (event records) that meet
    ``condition`` (on ``e``), in the array's order: one part of a statement that makes the
    transition they record, so that both commit together."""
    return f"""
        INSERT INTO {s}.events ({EVENT_COLUMNS})
        SELECT type, task_id, at, queue, worker_id, attempt, error, details::jsonb
        FROM json_to_recordset(${parameter}::json) AS e(type text, task_id text, at float8, queue text,
            worker_id text, attempt int, error text, details text)
        WHERE {condition}
    """


class Statements:
    """Every statement, with the schema's name filled in once.

    Args:
        schema: a validated, lower-case schema name (see :mod:`omniq.postgres._url`).
    """

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        #: The LISTEN channels: tasks made claimable (payload: their queues), results stored
        #: (payload: their task ids, or empty when too many to list) and running tasks cancelled
        #: (payload: the task id).
        self.tasks_channel = f"omniq_{schema}_tasks"
        self.results_channel = f"omniq_{schema}_results"
        self.cancels_channel = f"omniq_{schema}_cancels"
        t = _prefixed(TASK_COLUMNS, "t")
        # A batch is one JSON array of task records (``data`` in base64): one string is far
        # cheaper for the driver to encode than nineteen arrays of small values.
        insert = (
            f"INSERT INTO {s}.tasks ({TASK_COLUMNS}) "
            "SELECT id, queue, func, priority, status, due_at, created_at, updated_at, expires_at, attempts, "
            "max_attempts, decode(data, 'base64'), dedup_key, depends_on::jsonb, schedule_id, lease_token, "
            "lease_expires_at, worker_id, error FROM json_to_recordset($1::json) AS r(id text, queue text, "
            "func text, priority int, status text, due_at float8, created_at float8, updated_at float8, "
            "expires_at float8, attempts int, max_attempts int, data text, dedup_key text, depends_on json, "
            "schedule_id text, lease_token text, lease_expires_at float8, worker_id text, error text)"
        )

        #: Insert a batch, without conflict handling: a part of larger statements.
        self.insert_rows = insert
        fresh = f"{insert} ON CONFLICT (id) DO NOTHING"
        #: Insert a batch; a task whose id is already stored (the enqueue sent again after its
        #: reply was lost) is left as it is. Parameters: the records as JSON.
        self.insert_tasks = fresh
        #: Insert a batch and wake the listeners of its queues: the NOTIFY is sent once, at commit.
        #: Parameters: the records as JSON, channel, payload.
        self.insert_tasks_and_notify = f"WITH inserted AS ({fresh}) SELECT pg_notify($2, $3)"
        #: The same, and the events of the tasks this statement stored. Parameters: the records,
        #: the events as JSON, channel, payload (or null: no wake-up).
        self.insert_tasks_with_events = f"""
            WITH inserted AS ({fresh} RETURNING id),
            logged AS ({append_events(s, 2, "e.task_id IN (SELECT id FROM inserted)")})
            SELECT pg_notify($3, $4::text) WHERE $4::text IS NOT NULL
        """
        #: The ids of the array that are stored tasks. Parameters: ids.
        self.stored_ids = f"SELECT id FROM {s}.tasks WHERE id = ANY($1::text[])"
        #: Insert a batch whose records carry dedup keys; a live holder of the key wins (also an
        #: earlier record of the same batch). Returns the ids inserted.
        self.insert_tasks_deduplicated = (
            f"{insert} ON CONFLICT (dedup_key) WHERE status IN {_LIVE} AND dedup_key IS NOT NULL "
            "DO NOTHING RETURNING id"
        )
        #: The live holders of the given dedup keys. Parameters: keys.
        self.dedup_holders = (
            f"SELECT dedup_key, id FROM {s}.tasks "
            f"WHERE dedup_key = ANY($1::text[]) AND status IN {_LIVE} AND dedup_key IS NOT NULL"
        )
        self.notify = "SELECT pg_notify($1, $2)"

        # Statements that pick rows with ``FOR UPDATE SKIP LOCKED`` in a CTE then change them
        # reach the picked rows by primary key through ``id = ANY(ARRAY(SELECT id FROM ...))``,
        # not by joining the CTE: the planner cannot know how many rows a CTE returns, and with
        # statistics showing many runnable (or running) rows, a generic plan joined it by hashing
        # against a scan of the whole table (a claim of 50 read 300,000 rows: 106 ms, 0.5 ms by
        # key). An array from a subquery is costed as a few elements: probes of ``tasks_pkey``.
        #: Lease up to ``limit`` tasks in claim order, in one statement. The lateral walk visits the
        #: worker's queues in its order (``WITH ORDINALITY``) and, in each, reads ``tasks_runnable``
        #: in claim order, locking rows as it goes and skipping those other claims hold; the outer
        #: LIMIT stops the walk once the batch is full, so a later queue is not touched while an
        #: earlier one fills it. Expired rows are left for ``reap`` to report. Rows come back in
        #: no order (the caller sorts them by its queues' order, then claim order).
        #: Parameters: queues, now, limit, token, lease expiry, worker.
        picked = f"""
            picked AS (
                SELECT c.id
                FROM unnest($1::text[]) WITH ORDINALITY AS q(name, rank)
                CROSS JOIN LATERAL (
                    SELECT id FROM {s}.tasks
                    WHERE queue = q.name AND status IN ('pending', 'failed') AND due_at <= $2
                      AND (expires_at IS NULL OR expires_at > $2)
                    ORDER BY priority DESC, due_at, seq
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                ) AS c
                LIMIT $3
            )
        """
        lease = f"""
            UPDATE {s}.tasks AS t
            SET status = 'running', attempts = t.attempts + 1, lease_token = $4, lease_expires_at = $5,
                worker_id = $6, updated_at = $2
            WHERE t.id = ANY(ARRAY(SELECT id FROM picked))
            RETURNING {t}, t.seq
        """
        self.claim = f"WITH {picked} {lease}"
        #: The same, and the ``executing`` event of each task claimed, committed with the claim.
        #: Parameters: as ``claim``.
        self.claim_with_events = f"""
            WITH {picked}, claimed AS ({lease}),
            logged AS (
                INSERT INTO {s}.events ({EVENT_COLUMNS})
                SELECT 'executing', id, $2, queue, $6, attempts, NULL, '{{}}'::jsonb FROM claimed
            )
            SELECT * FROM claimed
        """
        #: Give back the given tasks of a claim nobody received: pending again, the attempt not
        #: counted. By primary key, as ``finish`` (the token means the task still runs).
        #: Parameters: now, ids, token.
        self.unclaim = f"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks WHERE id = ANY($2::text[]) AND lease_token = $3
                ORDER BY id FOR NO KEY UPDATE
            )
            UPDATE {s}.tasks SET status = 'pending', attempts = attempts - 1, lease_token = NULL,
                lease_expires_at = NULL, updated_at = $1
            WHERE id = ANY(ARRAY(SELECT id FROM locked)) AND lease_token = $3
            RETURNING queue
        """
        #: Send a leased task that cannot be read to ``dead`` with the reason. Parameters: error,
        #: now, id, token.
        self.bury = f"""
            UPDATE {s}.tasks SET status = 'dead', error = $1, lease_token = NULL, lease_expires_at = NULL,
                updated_at = $2
            WHERE id = $3 AND lease_token = $4
        """
        #: Give back every task still leased under a token (a claim whose reply was lost: it may
        #: or may not have committed). Parameters: now, token.
        self.release_claim = f"""
            UPDATE {s}.tasks SET status = 'pending', attempts = attempts - 1, lease_token = NULL,
                lease_expires_at = NULL, updated_at = $1
            WHERE status = 'running' AND lease_token = $2
            RETURNING queue
        """
        # Heartbeat and finish find each task of a batch by its primary key (``id = ANY``) and
        # match its own part of the batch, a JSON object keyed by task id, by a lookup rather
        # than a join. A join lets the planner pick the running rows (``tasks_leases``) as the
        # outer side and rescan the batch for each of them: statistics taken while nothing ran
        # make that plan look cheapest, and then a finish of 2,000 outcomes beside 14,000
        # running tasks takes seconds instead of milliseconds. Without a join there is no such
        # plan: the cost is the batch's index probes (or, for a batch as large as the table, one
        # scan). There is no ``status = 'running'`` term for the same reason: it would make
        # ``tasks_leases`` a candidate; a lease token is set only while a task runs (claim sets
        # it, every change out of ``running`` clears it), so matching the token is enough.
        #: Renew leases; returns the pairs renewed. Parameters: lease expiry, now, ids,
        #: ``{id: token}`` as JSON.
        #
        # Each of them also takes its row locks in id order first (the ``locked`` CTE), so that
        # two statements on overlapping tasks wait for each other instead of deadlocking: a
        # worker's heartbeat and its finish do overlap (a settled task keeps its lease until its
        # outcome is written), and an update locks rows in whatever order its plan reads them.
        self.heartbeat = f"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks AS t
                WHERE t.id = ANY($3::text[]) AND t.lease_token = $4::jsonb ->> t.id
                ORDER BY id FOR NO KEY UPDATE
            )
            UPDATE {s}.tasks AS t SET lease_expires_at = $1, updated_at = $2
            WHERE t.id = ANY(ARRAY(SELECT id FROM locked)) AND t.lease_token = $4::jsonb ->> t.id
            RETURNING t.id, t.lease_token
        """
        locked = f"""
            locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks AS t
                WHERE t.id = ANY($2::text[]) AND t.lease_token = $1::jsonb -> t.id ->> 0
                ORDER BY id FOR NO KEY UPDATE
            )
        """
        settle = f"""
            UPDATE {s}.tasks AS t
            SET status = $1::jsonb -> t.id ->> 1,
                due_at = coalesce(($1::jsonb -> t.id ->> 3)::float8, t.due_at),
                error = $1::jsonb -> t.id ->> 4,
                lease_token = NULL, lease_expires_at = NULL, settled_token = t.lease_token,
                updated_at = ($1::jsonb -> t.id ->> 2)::float8,
                attempts = t.attempts - ((($1::jsonb -> t.id ->> 1) = 'pending')::int)
            WHERE t.id = ANY(ARRAY(SELECT id FROM locked)) AND t.lease_token = $1::jsonb -> t.id ->> 0
            RETURNING t.id, t.has_dependents
        """
        #: Settle attempts whose token is the current lease; returns the ids settled and whether
        #: tasks wait on them (``has_dependents``, see ``_dependencies.py``). A ``pending``
        #: outcome is a release by a stopping worker: its attempt is given back. ``settled_token``
        #: remembers which lease settled a task, for :attr:`finish_confirming`. Parameters:
        #: ``{id: [token, status, time, due time or null (keep), error]}`` as JSON, ids.
        self.finish = f"WITH {locked} {settle}"
        #: The same, and the events (JSON, ``$3``) of the tasks it settled.
        self.finish_with_events = f"""
            WITH {locked}, settled AS ({settle}),
            logged AS ({append_events(s, 3, "e.task_id IN (SELECT id FROM settled)")})
            SELECT id, has_dependents FROM settled
        """
        #: The same, after a finish whose reply was lost with the connection: an outcome marked
        #: doubtful counts as accepted if its own lease already settled the task (the lost finish
        #: committed). The second part reads the snapshot from before this statement, so a task
        #: settled by the first part is not reported twice. Parameters: as ``finish``, then the
        #: doubtful ids.
        self.finish_confirming = f"""
            WITH {locked}, settled AS ({settle})
            SELECT id, has_dependents FROM settled
            UNION ALL
            SELECT t.id, t.has_dependents FROM {s}.tasks AS t
            WHERE t.id = ANY($3::text[]) AND t.settled_token = $1::jsonb -> t.id ->> 0
        """
        #: The same, and the events (JSON, ``$4``) of the tasks the first part settled (those
        #: of a lost finish were written with it).
        self.finish_confirming_with_events = f"""
            WITH {locked}, settled AS ({settle}),
            logged AS ({append_events(s, 4, "e.task_id IN (SELECT id FROM settled)")})
            SELECT id, has_dependents FROM settled
            UNION ALL
            SELECT t.id, t.has_dependents FROM {s}.tasks AS t
            WHERE t.id = ANY($3::text[]) AND t.settled_token = $1::jsonb -> t.id ->> 0
        """
        #: Leases that ran out: back to pending now, or dead on the last attempt. SKIP LOCKED lets
        #: reapers of many workers split the rows; a row another reaper changed meanwhile no longer
        #: matches when re-checked. Parameters: now, error for the dead.
        self.recover_leases = f"""
            WITH lapsed AS (
                SELECT id FROM {s}.tasks WHERE status = 'running' AND lease_expires_at < $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {s}.tasks AS t
            SET status = CASE WHEN t.attempts >= t.max_attempts THEN 'dead' ELSE 'pending' END,
                error = CASE WHEN t.attempts >= t.max_attempts THEN $2 ELSE t.error END,
                due_at = CASE WHEN t.attempts >= t.max_attempts THEN t.due_at ELSE $1 END,
                lease_token = NULL, lease_expires_at = NULL, updated_at = $1
            WHERE t.id = ANY(ARRAY(SELECT id FROM lapsed))
            RETURNING {t}, t.seq
        """
        #: Tasks whose TTL passed before they started. Parameters: now.
        self.expire = f"""
            WITH expiring AS (
                SELECT id FROM {s}.tasks
                WHERE status IN ('pending', 'failed', 'waiting') AND expires_at IS NOT NULL
                  AND expires_at <= $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {s}.tasks AS t SET status = 'expired', updated_at = $1
            WHERE t.id = ANY(ARRAY(SELECT id FROM expiring))
            RETURNING {t}, t.seq
        """
        self.get_task = f"SELECT {TASK_COLUMNS} FROM {s}.tasks WHERE id = $1"
        #: Followed by optional filters, then ``ORDER BY created_at, seq LIMIT n``.
        self.select_tasks = f"SELECT {TASK_COLUMNS} FROM {s}.tasks"
        self.count_tasks = f"SELECT queue, status, count(*) FROM {s}.tasks GROUP BY queue, status"
        #: Cancel a task not yet final; if it was running, tell its worker (the cancels channel),
        #: at commit. The row is locked first so that its status before the change is known.
        #: Parameters: now, task id, channel.
        self.cancel = f"""
            WITH target AS (
                SELECT id, status FROM {s}.tasks
                WHERE id = $2 AND status NOT IN ('completed', 'dead', 'cancelled', 'expired')
                FOR UPDATE
            ), cancelled AS (
                UPDATE {s}.tasks AS t
                SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, updated_at = $1
                FROM target WHERE t.id = target.id
                RETURNING {t}, target.status AS was
            )
            SELECT {TASK_COLUMNS}, CASE WHEN was = 'running' THEN pg_notify($3, id) END FROM cancelled
        """
        #: A requeued task keeps its dedup key unless another live task took it meanwhile; the
        #: queue's listeners are woken. Parameters: now, task id, channel.
        self.requeue = f"""
            WITH requeued AS (
                UPDATE {s}.tasks
                SET status = 'pending', attempts = 0, due_at = $1, expires_at = NULL, error = NULL,
                    updated_at = $1,
                    dedup_key = CASE WHEN EXISTS (
                        SELECT 1 FROM {s}.tasks AS holder
                        WHERE holder.dedup_key = tasks.dedup_key
                          AND holder.status IN {_LIVE} AND holder.dedup_key IS NOT NULL
                    ) THEN NULL ELSE dedup_key END
                WHERE id = $2 AND status IN ('dead', 'cancelled', 'expired')
                RETURNING {TASK_COLUMNS}
            )
            SELECT *, pg_notify($3, queue) FROM requeued
        """
        #: Store or replace results and wake the listeners of their ids. The batch is one JSON
        #: array of result records (``data`` in base64): encoding one string is far cheaper for
        #: the driver than arrays of many small values. Parameters: records, channel, payload.
        self.put_results = f"""
            WITH stored AS (
                INSERT INTO {s}.results ({RESULT_COLUMNS})
                SELECT task_id, status, finished_at, decode(data, 'base64'), expires_at, schedule_id
                FROM json_to_recordset($1::json) AS r(task_id text, status text, finished_at float8,
                    data text, expires_at float8, schedule_id text)
                ON CONFLICT (task_id) DO UPDATE SET status = excluded.status,
                    finished_at = excluded.finished_at, data = excluded.data,
                    expires_at = excluded.expires_at, schedule_id = excluded.schedule_id
            )
            SELECT pg_notify($2, $3)
        """
        self.get_result = f"SELECT {RESULT_COLUMNS} FROM {s}.results WHERE task_id = $1"
        #: Parameters: task ids.
        self.delete_results_of = f"DELETE FROM {s}.results WHERE task_id = ANY($1::text[])"
        #: Parameters: now.
        self.delete_results = f"DELETE FROM {s}.results WHERE expires_at IS NOT NULL AND expires_at <= $1"

        #: Append events in order (``id`` follows the array's order), given as one JSON array of
        #: event records. Parameters: records.
        self.insert_events = append_events(s, 1)
        #: Followed by optional filters, then ``ORDER BY at, id LIMIT n``.
        self.select_events = f"SELECT {EVENT_COLUMNS} FROM {s}.events"
        #: Parameters: before.
        self.delete_events = f"DELETE FROM {s}.events WHERE at < $1"
