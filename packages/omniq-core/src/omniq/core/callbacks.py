"""Callbacks on a task's outcome: per task (``@oq.task(on_success=...)``) and per application
(``oq.on("dead", func)``).

A callback runs in the worker after the outcome it reports has been stored, so nothing it does, not
even raising or hanging, can change that outcome: a failing callback is logged and recorded as a
``callback_error`` event. Per-task callbacks are stored by import path with the task, so any worker
process runs them; application callbacks run in the process whose application registered them.

Kinds: ``success`` (the task completed), ``failure`` (an attempt failed: error, timeout, or its
worker died), then ``retry`` (it will run again) or ``dead`` (it will not).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

from omniq.core.errors import ValidationError
from omniq.core.events import EventRecorder
from omniq.core.functions import FunctionRegistry, function_name
from omniq.core.models import ErrorInfo, EventType
from omniq.core.records import EventRecord

__all__ = ["CALLBACK_KINDS", "CallbackKind", "CallbackRef", "Callbacks", "TaskOutcome", "callback_names"]

logger = logging.getLogger("omniq.callbacks")

CallbackKind = Literal["success", "failure", "retry", "dead"]
CALLBACK_KINDS: tuple[str, ...] = get_args(CallbackKind)

Callback = Callable[["TaskOutcome"], Any]
#: One callback (a function or its import path) or several.
CallbackRef = Callback | str | Sequence[Callback | str]

#: How long a stopping worker waits for callbacks still running.
CLOSE_TIMEOUT = 30.0


class TaskOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a callback is told about the attempt that ended.

    Attributes:
        kind: which callback this is (``success``, ``failure``, ``retry`` or ``dead``).
        task_id: the task.
        func: its function's registered name or import path.
        queue: its queue.
        attempt: the attempt that ended (1 for the first).
        max_attempts: the most attempts it gets.
        worker_id: the worker that ran it (or found its lease expired).
        value: the return value, for ``success``.
        error: what went wrong, for the other kinds.
        retry_at: when it runs again, for ``retry``.
    """

    kind: str
    task_id: str
    func: str
    queue: str
    attempt: int
    max_attempts: int
    worker_id: str | None = None
    value: Any = None
    error: ErrorInfo | None = None
    retry_at: datetime | None = None


def callback_names(**by_kind: CallbackRef | None) -> tuple[tuple[str, str], ...]:
    """``(kind, import path)`` pairs to store with a task, from ``success=f, dead=[g, "m:h"]``;
    refuses callbacks a worker could not import (lambdas, nested functions)."""
    names = []
    for kind, ref in by_kind.items():
        if kind not in CALLBACK_KINDS:
            raise ValidationError(f"on_{kind}", f"unknown callback kind; expected one of {CALLBACK_KINDS}")
        listed = [] if ref is None else [ref] if isinstance(ref, str) or callable(ref) else list(ref)
        for func in listed:
            if isinstance(func, str):
                names.append((kind, func))
            elif callable(func):
                names.append((kind, function_name(func)))
            else:
                raise ValidationError(f"on_{kind}", f"must be a function or an import path, got {func!r}")
    return tuple(names)


class Callbacks:
    """The application's callbacks, and the running of every callback in a worker."""

    def __init__(self) -> None:
        self._registered: dict[str, list[Callable[..., Any]]] = {kind: [] for kind in CALLBACK_KINDS}
        self._running: set[asyncio.Task[None]] = set()
        self._any_registered = False

    def add(self, kind: str, func: Callable[..., Any]) -> None:
        """Call ``func(outcome)`` on every task's ``kind`` outcome."""
        if kind not in CALLBACK_KINDS:
            raise ValidationError("kind", f"unknown callback kind {kind!r}; expected one of {CALLBACK_KINDS}")
        if not callable(func):
            raise ValidationError("func", f"a callback must be callable, got {func!r}")
        self._registered[kind].append(func)
        self._any_registered = True

    def wanted(self, per_task: tuple[tuple[str, str], ...]) -> bool:
        """Whether any callback could run for a task with these per-task callbacks (asked for every
        task run, so it is a plain attribute read)."""
        return self._any_registered or bool(per_task)

    def dispatch(
        self,
        outcome: TaskOutcome,
        per_task: tuple[tuple[str, str], ...],
        functions: FunctionRegistry,
        events: EventRecorder,
    ) -> None:
        """Start the callbacks of ``outcome.kind`` in the background."""
        targets: list[tuple[str, Callable[..., Any] | None]] = [
            (function_name_or_repr(func), func) for func in self._registered[outcome.kind]
        ]
        targets += [(name, None) for kind, name in per_task if kind == outcome.kind]
        for name, func in targets:
            task = asyncio.create_task(self._run(name, func, outcome, functions, events))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(
        self,
        name: str,
        func: Callable[..., Any] | None,
        outcome: TaskOutcome,
        functions: FunctionRegistry,
        events: EventRecorder,
    ) -> None:
        try:
            target = func if func is not None else functions.resolve(name)
            if inspect.iscoroutinefunction(target):
                await target(outcome)
            else:
                # A thread: a slow callback must not hold up the worker's event loop.
                await asyncio.to_thread(target, outcome)
        except Exception as exc:
            logger.exception("%s callback %s of task %s failed", outcome.kind, name, outcome.task_id)
            events.record(_failure_event(name, outcome, exc))

    async def close(self) -> None:
        """Wait for running callbacks (for at most ``CLOSE_TIMEOUT`` seconds, then cancel them)."""
        if not self._running:
            return
        _, stuck = await asyncio.wait(list(self._running), timeout=CLOSE_TIMEOUT)
        for task in stuck:
            logger.error("a callback did not finish in %s s; cancelled", CLOSE_TIMEOUT)
            task.cancel()


def function_name_or_repr(func: Callable[..., Any]) -> str:
    """A callback's name for logs and events (application callbacks may be lambdas)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(func)


def _failure_event(name: str, outcome: TaskOutcome, exc: BaseException) -> EventRecord:
    # Imported here: the worker package imports this module while it loads.
    from omniq.core.worker._outcomes import error_info  # noqa: PLC0415

    error = msgspec.json.encode(error_info(exc)).decode()
    details = msgspec.json.encode({"callback": name, "kind": outcome.kind}).decode()
    return EventRecord(
        type=EventType.CALLBACK_ERROR.value,
        task_id=outcome.task_id,
        at=time.time(),
        queue=outcome.queue,
        worker_id=outcome.worker_id,
        attempt=outcome.attempt,
        error=error,
        details=details,
    )
