"""Greenlets on a gevent hub in a native thread of its own, driven from the worker's asyncio loop.

An asyncio loop and a gevent hub cannot share a thread unless one runs inside the other: without
monkey-patching, the loop's ``select`` would block every greenlet; with it, a greenlet that computes
for a while would stop the loop, and with it the heartbeats that keep its leases. So the hub gets a
thread of its own and each side only uses the other's thread-safe door: calls go in with
``hub.loop.run_callback_threadsafe`` and outcomes come back with ``loop.call_soon_threadsafe``.
The design is the same whether or not the process is monkey-patched; patching only decides which
blocking calls yield to the hub.

A timeout is a ``gevent.Timeout`` inside the greenlet, and a cancelled call is ``kill``-ed: both take
effect only when the greenlet yields to its hub (``gevent.sleep``, gevent sockets, or any blocking
stdlib call once the process is monkey-patched). Code that never yields holds the whole hub. Past its
timeout plus ``grace`` (or ``grace`` after a cancel) such a call is given up on: the attempt is
recorded as timed out (or cancelled), the hub is retired (its thread ends once its greenlets do) and a
fresh hub takes new calls. The abandoned code itself runs on until it yields or returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from gevent import monkey

from omniq.core.errors import TaskTimeoutError
from omniq.core.worker._threads import _mark_retrieved, _set_outcome
from omniq.core.worker.async_worker import run_coroutine

__all__ = ["GreenletRunner"]

logger = logging.getLogger("omniq.worker")

# Native even when ``threading`` is monkey-patched: a patched thread would be a greenlet of the
# caller's hub, which is exactly what the hub thread must not be.
_start_native_thread: Callable[..., int] = monkey.get_original("_thread", "start_new_thread")
_native_lock: Callable[[], Any] = monkey.get_original("_thread", "allocate_lock")


class _Call:
    """One call crossing to the hub. ``settled`` and ``greenlet`` belong to the hub's thread."""

    __slots__ = ("args", "context", "func", "future", "greenlet", "kwargs", "loop", "settled", "timeout")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout
        self.loop = loop
        # A new greenlet starts with an empty context; the attempt's (``current_task()``) follows.
        self.context = contextvars.copy_context()
        self.future: asyncio.Future[Any] = loop.create_future()
        # Nobody reads the outcome of a call that was given up on; that is expected.
        self.future.add_done_callback(_mark_retrieved)
        self.greenlet: Any = None
        self.settled = False

    def settle(self, value: Any, error: BaseException | None) -> None:
        """Hand the outcome back to the asyncio loop (called in the hub's thread)."""
        self.settled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(_set_outcome, self.future, value, error)


def _execute(call: _Call) -> None:
    """The greenlet's body: the call under its ``gevent.Timeout``."""
    timer = gevent.Timeout(call.timeout)
    value: Any = None
    error: BaseException | None = None
    try:
        with timer:
            value = call.context.run(call.func, *call.args, **call.kwargs)
    except gevent.Timeout as exc:
        # Only our own timer is a timeout; a Timeout the task started itself is its own error.
        error = exc
        if exc is timer:
            message = f"task ran longer than its timeout of {call.timeout} s"
            error = TaskTimeoutError(message).with_traceback(exc.__traceback__)
    except BaseException as exc:  # noqa: BLE001 - every outcome, a kill included, goes back
        error = exc
    call.settle(value, error)


def _nothing() -> None:
    pass


class _Hub:
    """A native thread running a gevent hub; every call submitted becomes a greenlet on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ready: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._gevent_loop: Any = None
        # Guards ``_gevent_loop``, ``_early`` and ``_closed``: nothing may be sent to the hub's loop
        # before it exists or after it is destroyed.
        self._lock = _native_lock()
        self._early: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._closed = False
        # Touched only in the hub's thread.
        self._live = 0
        self._retired = False
        self._idle: Any = None
        _start_native_thread(self._serve, ())

    # -- called from the asyncio loop's thread ------------------------------------------------

    def submit(self, call: _Call) -> None:
        self._send(self._start, call)

    def kill(self, call: _Call) -> None:
        self._send(self._kill, call)

    def retire(self) -> None:
        """Take no more calls; the thread ends once the greenlets it holds have ended."""
        self._send(self._retire)

    def _send(self, callback: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._closed:
                return
            if self._gevent_loop is None:  # the thread is still starting
                self._early.append((callback, args))
            else:
                self._gevent_loop.run_callback_threadsafe(callback, *args)

    # -- the hub's thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        hub = gevent.get_hub()
        self._idle = gevent.event.Event()
        with self._lock:
            self._gevent_loop = hub.loop
            for callback, args in self._early:
                hub.loop.run_callback(callback, *args)
        with contextlib.suppress(RuntimeError):  # the loop closed while this thread started
            self._loop.call_soon_threadsafe(_set_outcome, self.ready, None, None)
        # A hub loop with no active watcher thinks it has nothing left to wait for and exits;
        # this one keeps it alive while it waits for calls from the other thread.
        keepalive = hub.loop.async_()
        keepalive.start(_nothing)
        try:
            self._idle.wait()  # the hub runs callbacks and greenlets meanwhile
        finally:
            with self._lock:
                self._closed = True
            keepalive.close()
            hub.destroy(destroy_loop=True)

    def _start(self, call: _Call) -> None:
        self._live += 1
        greenlet = gevent.Greenlet(_execute, call)
        greenlet.rawlink(functools.partial(self._ended, call))
        call.greenlet = greenlet
        greenlet.start()

    def _kill(self, call: _Call) -> None:
        # GreenletExit is raised in the greenlet when it next runs; if it has not started yet it
        # never does, and ``_ended`` reports it.
        call.greenlet.kill(block=False)

    def _ended(self, call: _Call, _greenlet: Any) -> None:
        self._live -= 1
        if not call.settled:  # killed before it started
            call.settle(None, asyncio.CancelledError())
        self._exit_if_idle()

    def _retire(self) -> None:
        self._retired = True
        self._exit_if_idle()

    def _exit_if_idle(self) -> None:
        if self._retired and self._live == 0:
            self._idle.set()


class GreenletRunner:
    """Runs plain functions as greenlets, ``size`` at a time; coroutine functions on the loop.

    Coroutine functions run on the worker's own event loop as on :class:`AsyncWorker`: a gevent hub
    has no use for them, and ``asyncio.timeout`` cancels them cleanly.
    """

    def __init__(self, size: int, *, grace: float = 1.0) -> None:
        self.size = size
        self.grace = grace
        self._slots = asyncio.Semaphore(size)
        self._hub: _Hub | None = None

    async def run(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        """Run the call, raising :class:`~omniq.core.errors.TaskTimeoutError` past ``timeout``."""
        if inspect.iscoroutinefunction(func):
            return await run_coroutine(func(*args, **kwargs), timeout)
        async with self._slots:
            value = await self._in_greenlet(func, args, kwargs, timeout)
        if inspect.isawaitable(value):  # a plain function that returned a coroutine
            return await run_coroutine(value, timeout)
        return value

    async def _in_greenlet(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        hub = await self._current_hub()
        call = _Call(func, args, kwargs, timeout, asyncio.get_running_loop())
        hub.submit(call)
        try:
            # The greenlet's own timer stops it; this wait only notices a hub it could not fire in.
            await asyncio.wait((call.future,), timeout=None if timeout is None else timeout + self.grace)
        except asyncio.CancelledError:
            await self._stop(hub, call)
            raise
        if not call.future.done():
            self._abandon(hub, "did not yield to its hub by its timeout")
            raise TaskTimeoutError(f"task ran longer than its timeout of {timeout} s")
        return call.future.result()

    async def _current_hub(self) -> _Hub:
        if self._hub is None:
            self._hub = _Hub(asyncio.get_running_loop())
        hub = self._hub
        await asyncio.shield(hub.ready)
        return hub

    async def _stop(self, hub: _Hub, call: _Call) -> None:
        hub.kill(call)
        with contextlib.suppress(asyncio.CancelledError):  # the caller re-raises its own
            await asyncio.wait((call.future,), timeout=self.grace)
        if not call.future.done():
            self._abandon(hub, "did not yield to its hub when it was cancelled")

    def _abandon(self, hub: _Hub, why: str) -> None:
        logger.warning("a greenlet %s; its hub is retired and a fresh one takes new tasks", why)
        if self._hub is hub:
            self._hub = None
        hub.retire()

    def close(self) -> None:
        """Retire the hub: its thread ends once its greenlets have."""
        if self._hub is not None:
            self._hub.retire()
            self._hub = None
