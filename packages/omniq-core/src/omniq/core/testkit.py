"""Helpers for testing an application's own tasks: a throw-away app on the memory backend, and
:func:`drain`, which runs what was enqueued, in this process, until every task has ended.

This is OmniQ's answer to Celery's eager mode and Dramatiq's stub broker, without their trap: the
tasks go through the real enqueue, encoding, worker, retries and results, so a test sees what
production would (arguments that cannot be encoded, a retry that ends dead), only faster.

With pytest, the plugin of ``omniq-core`` offers the fixtures ``omniq_app`` (an open
:class:`AsyncOmniQ`) and ``omniq_blocking_app`` (an open :class:`OmniQ`), each on its own store::

    async def test_signup_sends_a_welcome_email(omniq_app):
        send_welcome = omniq_app.task(myapp.emails.send_welcome)
        task_id = await send_welcome.enqueue("ada@example.com")
        await drain(omniq_app)
        assert (await omniq_app.get_result(task_id)).value == "sent"
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from omniq.core.app import AsyncOmniQ
from omniq.core.models import TaskStatus
from omniq.core.sync import OmniQ

__all__ = ["drain", "drain_blocking", "memory_app", "memory_blocking_app"]

#: Statuses a task has not ended in.
_UNFINISHED = (TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING, TaskStatus.FAILED)


def memory_app(**settings: Any) -> AsyncOmniQ:
    """An :class:`AsyncOmniQ` on a new, empty memory store (tasks, results and events), polling
    fast; ``settings`` as for ``AsyncOmniQ``. Use it as ``async with memory_app() as app:``."""
    return AsyncOmniQ(f"memory://testkit-{uuid.uuid4().hex}", **{"poll_interval": 0.005, **settings})


def memory_blocking_app(**settings: Any) -> OmniQ:
    """:func:`memory_app` as a blocking :class:`OmniQ`."""
    return OmniQ(f"memory://testkit-{uuid.uuid4().hex}", **{"poll_interval": 0.005, **settings})


async def drain(app: AsyncOmniQ, *, timeout: float = 30.0, worker_type: str = "async") -> None:
    """Run every enqueued task until each has ended (completed, dead, cancelled or expired),
    retries and delayed tasks included, in a worker in this process.

    A worker the app already runs is used; otherwise one is started and stopped again.

    Raises:
        TimeoutError: tasks were still unfinished after ``timeout`` seconds; the message names
            them (a task delayed by an hour is never due in a test: enqueue it without the delay).
    """
    started = app._worker is None
    if started:
        await app.start_worker(worker_type)
    deadline = time.monotonic() + timeout
    try:
        while left := await _unfinished(app):
            if time.monotonic() > deadline:
                shown = ", ".join(f"{task_id} ({status})" for task_id, status in left[:10])
                raise TimeoutError(f"{len(left)} task(s) still unfinished after {timeout} s: {shown}")
            await asyncio.sleep(app.settings.poll_interval)
    finally:
        if started:
            await app.stop_worker()


def drain_blocking(app: OmniQ, *, timeout: float = 30.0, worker_type: str = "async") -> None:
    """:func:`drain` for a blocking :class:`OmniQ`."""
    app.open()
    app._portal.call(drain, app.aio, timeout=timeout, worker_type=worker_type)


async def _unfinished(app: AsyncOmniQ) -> list[tuple[str, str]]:
    left: list[tuple[str, str]] = []
    for status in _UNFINISHED:
        left += [(task.id, status.value) for task in await app.list_tasks(status=status, limit=1000)]
    return left
