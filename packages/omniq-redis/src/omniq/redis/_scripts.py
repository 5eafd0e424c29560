"""The Lua scripts: loaded from ``lua/``, registered once per server, called by SHA.

Every state change that must be atomic is one script. Each is sent with ``EVALSHA``; when the
server answers ``NOSCRIPT`` (it restarted, or ``SCRIPT FLUSH`` ran) the script is loaded again and
the call repeated, so a worker survives a server restart without help.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from omniq.core.dependency_rules import DEPENDENT_FATE
from omniq.core.records import ScheduleRecord, TaskRecord
from omniq.redis._waits import NOTIFY_TTL_MS

__all__ = ["SCRIPT_NAMES", "Script", "load_script"]

SCRIPT_NAMES = (
    "append_events",
    "cancel",
    "claim",
    "delete_results",
    "enqueue",
    "finish",
    "get_tasks",
    "heartbeat",
    "purge_events",
    "purge_results",
    "purge_tasks",
    "put_results",
    "query_events",
    "reap",
    "release_claim",
    "requeue",
    "resolve_dependencies",
    "running_tasks",
    "set_schedule_status",
    "trigger_schedule",
    "watch_result",
)

Arg = str | bytes | int | float

#: Scripts that also get ``lua/_events.lua`` (the event indexes' helpers) after the prelude: the
#: event scripts, and the transitions that write their events in the same step.
EVENT_SCRIPTS = frozenset(
    {
        "append_events",
        "purge_events",
        "query_events",
        "enqueue",
        "claim",
        "finish",
        "requeue",
        "trigger_schedule",
    }
)


def _read(name: str) -> str:
    return resources.files("omniq.redis").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _prelude() -> str:
    # The task fields in TaskRecord's order: scripts return tasks as HMGET of these.
    fields = ", ".join(f"'{name}'" for name in TaskRecord.__struct_fields__)
    schedule_fields = ", ".join(f"'{name}'" for name in ScheduleRecord.__struct_fields__)
    # Core's dependency rule, as a table: the scripts must apply it atomically, so they hold it,
    # but its definition is core's (omniq.core.dependency_rules) and cannot drift from it.
    fates = ", ".join(f"['{status.value}'] = '{fate.value}'" for status, fate in DEPENDENT_FATE.items())
    return (
        f"local FIELDS = {{{fields}}}\nlocal SCHEDULE_FIELDS = {{{schedule_fields}}}\n"
        f"local DEPENDENT_FATE = {{{fates}}}\n"
        f"local NOTIFY_TTL_MS = {NOTIFY_TTL_MS}\n{_read('_common')}\n"
    )


class Script:
    """One Lua script and its SHA1, as the server names it once loaded."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: Redis, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run the script; load it first if the server does not know it (yet, or any more)."""
        # redis-py's annotations of these calls differ between its releases; Any spans them.
        untyped: Any = client
        try:
            return await untyped.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await untyped.script_load(self.source)
            return await untyped.evalsha(self.sha, len(keys), *keys, *args)


@cache
def load_script(name: str) -> Script:
    """The script ``lua/<name>.lua`` with the shared prelude (and the event helpers for the
    event scripts)."""
    events = _read("_events") + "\n" if name in EVENT_SCRIPTS else ""
    return Script(name, _prelude() + events + _read(name))
