"""What every part of a worker reads and writes: its components, settings and running state.

:class:`~omniq.core.worker.base.BaseWorker` is assembled from one part per job (claiming and
running, settling, leases, recovery), each a subclass of :class:`WorkerState`; the state is set
up once, by ``BaseWorker.__init__`` and ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from omniq.core.callbacks import Callbacks
from omniq.core.events import EventRecorder
from omniq.core.functions import FunctionRegistry
from omniq.core.interfaces import BaseResultStorage, BaseTaskQueue
from omniq.core.records import TaskRecord
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings
from omniq.core.worker._outage import OutageLog
from omniq.core.worker._outcomes import Settlement

__all__ = ["Runner", "WorkerState", "pause"]


async def pause(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``event`` is set; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class Runner(Protocol):
    """How a worker kind runs one attempt of a task function.

    ``run`` is called inside the attempt's :class:`~omniq.core.context.TaskContext`
    (:func:`~omniq.core.context.current_task`); a runner that leaves the calling thread or process
    carries it along. When ``run`` is cancelled it must stop the call (or give up on it) before it
    returns.
    """

    async def run(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        """Run the call, raising :class:`~omniq.core.errors.TaskTimeoutError` past ``timeout``."""

    def close(self) -> None:
        """Release threads or processes."""


class WorkerState:
    """The attributes the parts of a worker share (set by ``BaseWorker``)."""

    settings: Settings
    queue: BaseTaskQueue
    result_store: BaseResultStorage | None
    queues: list[str]
    max_workers: int
    worker_id: str
    functions: FunctionRegistry
    callbacks: Callbacks
    serializer: SerializationManager
    events: EventRecorder
    completed_count: int
    #: Whether the queue writes this worker's ``executing`` and outcome events itself, with
    #: the claim and the finish (one store for both): then they are not recorded here.
    _events_travel: bool
    _runner: Runner | None
    _executions: dict[str, asyncio.Task[None]]
    _leases: dict[str, TaskRecord]
    _lost: set[str]
    #: Tokens of claims whose reply never arrived, with when each was sent (monotonic), to
    #: give back (see ``_release_claims``); and when they may be given back next.
    _unreleased_claims: dict[str, float]
    _next_release: float
    _outage: OutageLog
    _settlements: list[Settlement]
    _unwritten: int
    _last_write: float
    _settle_wake: asyncio.Event
    _capacity: asyncio.Event
    _stopping: asyncio.Event
    _closing: asyncio.Event
    #: Set when the store pushed a cancellation of a task this worker holds: heartbeat now.
    _lease_check: asyncio.Event
    _cancel_watch: contextlib.AsyncExitStack
