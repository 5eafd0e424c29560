"""What the semantics tests observe of a task through the application: its status, its events, its
runs."""

from __future__ import annotations

from pathlib import Path

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, TaskStatus
from omniq.core.testing._support import (
    read_runs,
)

WORKER_TYPES = ["async", "thread", "gevent", "process"]
#: The kinds that stop a plain function blocked in ``time.sleep`` in this very process. The gevent
#: kind does so only in a monkey-patched process: ``ProcessTests`` proves it there, and omniq-core's
#: own tests (``test_worker_machinery``) prove it in-process with code that yields to the hub.
INTERRUPTING_WORKER_TYPES = [kind for kind in WORKER_TYPES if kind != "gevent"]


async def status_of(app: AsyncOmniQ, task_id: str) -> TaskStatus | None:
    task = await app.get_task(task_id)
    return None if task is None else task.status


async def event_types(app: AsyncOmniQ, task_id: str) -> list[str]:
    return [event.type.value for event in await app.events(task_id)]


async def has_event(app: AsyncOmniQ, task_id: str, kind: EventType) -> bool:
    return kind.value in await event_types(app, task_id)


async def status_is(app: AsyncOmniQ, task_id: str, status: TaskStatus) -> bool:
    return await status_of(app, task_id) is status


async def all_completed(app: AsyncOmniQ, ids: list[str]) -> bool:
    return all([await status_of(app, task_id) is TaskStatus.COMPLETED for task_id in ids])


async def runs_done(log: Path, count: int) -> bool:
    return len(read_runs(log)) >= count


async def path_exists(path: Path) -> bool:
    return path.exists()
