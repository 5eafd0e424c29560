"""Threads that run task functions and can be interrupted when a task times out.

``concurrent.futures`` cannot stop a running call, so OmniQ keeps its own threads: on timeout it
raises :class:`~omniq.core.errors.TaskTimeoutError` inside the thread with
``PyThreadState_SetAsyncExc``. Python checks for that exception between bytecodes, so a call blocked
in C (``time.sleep``, a socket read without a timeout) notices only when it returns. If it has not
stopped after ``grace`` seconds the thread is abandoned: the attempt is recorded as timed out, a
fresh thread takes its place, and whatever the old one returns later is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import inspect
import queue
import threading
from collections.abc import Callable
from typing import Any

from omniq.core.errors import TaskTimeoutError

__all__ = ["InterruptibleThreads"]

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc


class _Job:
    __slots__ = (
        "abandoned",
        "args",
        "context",
        "coroutine_task",
        "func",
        "future",
        "kwargs",
        "lock",
        "loop",
        "running",
        "stop_requested",
        "thread",
        "thread_id",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.loop = loop
        # The caller's context variables (the running task's context among them) follow the call.
        self.context = contextvars.copy_context()
        self.future: asyncio.Future[Any] = loop.create_future()
        # The caller may have stopped waiting (timeout, abandoned thread); the outcome then has
        # no reader, which is expected, not an error to report at garbage collection.
        self.future.add_done_callback(_mark_retrieved)
        self.lock = threading.Lock()
        self.running = False
        self.abandoned = False
        self.thread_id = 0
        self.thread: threading.Thread | None = None
        # Set while the job's coroutine runs on the thread's own loop: it is stopped by
        # cancelling that task, never by raising into the thread (which would land inside the
        # loop's machinery rather than in the task's code).
        self.coroutine_task: asyncio.Task[Any] | None = None
        self.stop_requested = False

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Stop the job if it is still running: cancel its coroutine, or raise ``exc_type`` in
        its thread."""
        with self.lock:
            self.stop_requested = True
            task = self.coroutine_task
            if task is not None:
                task.get_loop().call_soon_threadsafe(task.cancel)
            elif self.running:
                _set_async_exc(ctypes.c_ulong(self.thread_id), ctypes.py_object(exc_type))

    def settle(self, value: Any, error: BaseException | None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(_set_outcome, self.future, value, error)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _set_outcome(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


class InterruptibleThreads:
    """Up to ``size`` threads running calls submitted from one event loop."""

    def __init__(self, size: int, *, name: str = "omniq-task", grace: float = 1.0) -> None:
        self.size = size
        self.grace = grace
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._unclaimed = 0
        self._lock = threading.Lock()

    async def run(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        """Run ``func(*args, **kwargs)`` in a thread; coroutine functions run in a loop of that thread."""
        job = _Job(func, args, kwargs, asyncio.get_running_loop())
        self._submit(job)
        try:
            # Waiting on the job's future (not wait_for) so that a TimeoutError raised by the task
            # itself is the task's error, not mistaken for running out of time.
            await asyncio.wait((job.future,), timeout=timeout)
        except asyncio.CancelledError:
            await self._stop(job, asyncio.CancelledError)
            raise
        if not job.future.done():
            await self._stop(job, TaskTimeoutError)
            raise TaskTimeoutError(f"task ran longer than its timeout of {timeout} s")
        return job.future.result()

    async def _stop(self, job: _Job, exc_type: type[BaseException]) -> None:
        job.interrupt(exc_type)
        # Whatever the job raises now (the interrupt itself, most likely) is replaced by the
        # caller's own error; only whether it stopped matters here.
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(job.future), self.grace)
        with job.lock:
            job.abandoned = job.running
        if job.abandoned:
            with self._lock:
                self._threads.discard(job.thread)
                self._spawn()

    def close(self) -> None:
        """Let every thread finish its current call and exit."""
        with self._lock:
            for _ in self._threads:
                self._jobs.put(None)

    def _submit(self, job: _Job) -> None:
        with self._lock:
            self._unclaimed += 1
            if self._unclaimed > self._idle and len(self._threads) < self.size:
                self._spawn()
        self._jobs.put(job)

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=self._name, daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        try:
            while True:
                with self._lock:
                    self._idle += 1
                job = self._jobs.get()
                with self._lock:
                    self._idle -= 1
                    if job is None:
                        return
                    self._unclaimed -= 1
                loop = self._run_job(job, loop)
                if job.abandoned:
                    return  # a replacement thread already took this one's place
        finally:
            if loop is not None:
                loop.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _run_job(self, job: _Job, loop: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop | None:
        value: Any = None
        error: BaseException | None = None
        try:
            with job.lock:
                job.thread_id = threading.get_ident()
                job.thread = threading.current_thread()
                job.running = True
            try:
                value = job.context.run(job.func, *job.args, **job.kwargs)
                if inspect.isawaitable(value):
                    loop = loop or asyncio.new_event_loop()
                    try:
                        value = job.context.run(loop.run_until_complete, _awaited(value, job))
                    finally:
                        _cancel_leftovers(loop)
            except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the loop
                error = exc
            finally:
                with job.lock:
                    job.running = False
                    # An interrupt sent just as the call returned must not fire later.
                    _set_async_exc(ctypes.c_ulong(job.thread_id), None)
        except BaseException as exc:  # noqa: BLE001 - an interrupt landed between the two locks
            error = exc
        job.settle(value, error)
        return loop


async def _awaited(awaitable: Any, job: _Job) -> Any:
    task = asyncio.current_task()
    assert task is not None
    with job.lock:
        if job.stop_requested:
            # Stopped between the call and now; close the coroutine so it is not left unawaited.
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise asyncio.CancelledError
        job.coroutine_task = task
    try:
        return await awaitable
    finally:
        with job.lock:
            job.coroutine_task = None


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks a job's coroutine started and left behind, so that none of them runs on
    (or is silently resumed) during the thread's next job."""
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
