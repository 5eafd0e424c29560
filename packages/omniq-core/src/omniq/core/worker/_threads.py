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
        "func",
        "future",
        "kwargs",
        "lock",
        "loop",
        "running",
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
        self.future: asyncio.Future[Any] = loop.create_future()
        # The caller may have stopped waiting (timeout, abandoned thread); the outcome then has
        # no reader, which is expected, not an error to report at garbage collection.
        self.future.add_done_callback(_mark_retrieved)
        self.lock = threading.Lock()
        self.running = False
        self.abandoned = False
        self.thread_id = 0
        self.thread: threading.Thread | None = None

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Raise ``exc_type`` in the job's thread if the job is still running there."""
        with self.lock:
            if self.running:
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
            if timeout is None:
                return await asyncio.shield(job.future)
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except TimeoutError:
            if job.future.done() and job.future.exception() is None:
                return job.future.result()
            await self._stop(job, TaskTimeoutError)
            raise TaskTimeoutError(f"task ran longer than its timeout of {timeout} s") from None
        except asyncio.CancelledError:
            await self._stop(job, asyncio.CancelledError)
            raise

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
                value = job.func(*job.args, **job.kwargs)
                if inspect.isawaitable(value):
                    loop = loop or asyncio.new_event_loop()
                    value = loop.run_until_complete(_awaited(value))
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


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
