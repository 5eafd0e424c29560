"""The key layout of one project: every key starts with ``{prefix}:``.

The braces make ``prefix`` the hash tag of every key, so all of a project's keys live in one Redis
Cluster slot and each Lua script touches keys of one node only. The Lua scripts build the same
names (see ``lua/_common.lua``); the package README documents the layout.
"""

from __future__ import annotations

import hashlib

__all__ = ["Keys"]


class Keys:
    """Key names under ``{prefix}:``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.base = "{" + prefix + "}"
        #: A key of the project's slot that every script declares (Redis Cluster routes by it).
        self.anchor = f"{self.base}:seq"
        self.queues = f"{self.base}:queues"
        self.leases = f"{self.base}:leases"
        self.ttl = f"{self.base}:ttl"
        self.result_expiry = f"{self.base}:rx"
        #: Task ids someone waits for a result of (``wait_for_result``), by the waiter's deadline.
        self.result_waiters = f"{self.base}:rw"
        self.events = f"{self.base}:events"
        #: The events out of step with their arrival time, by time (see ``lua/_events.lua``).
        self.events_by_time = f"{self.base}:ev:at"
        #: ``SCAN MATCH`` pattern of every key of the project (braces escaped for glob matching).
        self.pattern = "\\{" + prefix.replace("*", "\\*").replace("?", "\\?").replace("[", "\\[") + "\\}:*"

    def task(self, task_id: str) -> str:
        """The hash holding one live task (pending, waiting, running or failed)."""
        return f"{self.base}:t:{task_id}"

    def finished(self, task_id: str) -> str:
        """The string holding one final task (completed, dead, cancelled or expired), packed."""
        return f"{self.base}:f:{task_id}"

    def ready(self, queue: str) -> str:
        """The sorted set of a queue's claimable tasks, in claim order."""
        return f"{self.base}:q:{queue}"

    def delayed(self, queue: str) -> str:
        """The sorted set of a queue's tasks not yet due, by due time."""
        return f"{self.base}:d:{queue}"

    def status(self, queue: str, status: str) -> str:
        """The sorted set of a queue's tasks in one status, by creation time."""
        return f"{self.base}:s:{queue}:{status}"

    def wake(self, queue: str) -> str:
        """The list idle workers of a queue block on (``BLPOP``)."""
        return f"{self.base}:w:{queue}"

    def result(self, task_id: str) -> str:
        """One task's result (a string with a native expiry)."""
        return f"{self.base}:r:{task_id}"

    def notify(self, task_id: str) -> str:
        """The list a result waiter blocks on; storing the task's result pushes a token."""
        return f"{self.base}:n:{task_id}"

    def cancels(self, worker_id: str) -> str:
        """The list a worker blocks on for the ids of its running tasks that were cancelled."""
        return f"{self.base}:x:{worker_id}"

    def task_events(self, task_id: str) -> str:
        """The hash mapping ``task_id`` (and the other ids of its 4,096th) to its events' ids."""
        bucket = hashlib.sha1(task_id.encode(), usedforsecurity=False).hexdigest()[:3]
        return f"{self.base}:ev:task:{bucket}"
