"""A pool of child processes that run task functions, driven from the worker's asyncio loop.

Children are forked by multiprocessing's fork server (``spawn`` where there is none), never forked
from the worker itself, which runs threads and an event loop. The fork server imports the main
module and OmniQ once, so a child costs a fork, not an interpreter start-up. Each child runs one
call at a time (see :mod:`._child`).

The loop never blocks on a child: its socket and its exit sentinel are watched with
``loop.add_reader``, so a reply or a death wakes the loop, without threads or polling. A child that
dies, times out or is cancelled is killed (SIGTERM, then SIGKILL after ``grace``), reaped and
replaced; the others go on.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import functools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

import msgspec

from omniq.core.context import TaskContext, current_task
from omniq.core.errors import TaskTimeoutError, UnknownFunctionError, ValidationError, WorkerProcessDiedError
from omniq.core.functions import function_name
from omniq.core.worker import _child
from omniq.core.worker._child import HEADER, Request, frame, serve
from omniq.core.worker._main_guard import check_main_guard

__all__ = ["ProcessPool", "UnsendableValue"]

logger = logging.getLogger("omniq.worker")


def _start_context() -> ForkServerContext | SpawnContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


_CONTEXT = _start_context()
_CHUNK = 256 * 1024


class UnsendableValue:
    """Returned by :meth:`ProcessPool.run` when a task's arguments or value cannot cross between
    processes: not a task failure to retry, but a value to refuse (as an unencodable result is)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class RemoteTraceback(Exception):
    """The traceback of an error raised in a child process, attached as that error's cause."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def describe_exit(exitcode: int | None) -> str:
    """``exit code 1`` or ``signal 11, SIGSEGV``."""
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"signal {-exitcode}, {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an outcome nobody may wait for (a killed child's reply) as seen."""
    if not future.cancelled():
        future.exception()


class _Child:
    """One child process, its socket and its exit, seen from the parent's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, allow_dill: bool) -> None:
        self._loop = loop
        parent_end, child_end = socket.socketpair()
        self.process = _CONTEXT.Process(target=serve, args=(child_end, allow_dill), name="omniq-process")
        self.process.start()
        child_end.close()
        parent_end.setblocking(False)
        self.sock: socket.socket | None = parent_end
        self.pid: int = self.process.pid or 0
        self.ready: asyncio.Future[None] = loop.create_future()
        self.ready.add_done_callback(_retrieve)
        self.exited: asyncio.Future[int | None] = loop.create_future()
        self.reply: asyncio.Future[bytes] | None = None
        self._buffer = bytearray()
        loop.add_reader(parent_end.fileno(), self._on_readable)
        # Readable once the exit status is known (the fork server reports it on this pipe).
        self._sentinel: int | None = self.process.sentinel
        loop.add_reader(self._sentinel, self.reap)

    def begin(self) -> asyncio.Future[bytes]:
        """A future for the reply to the call about to be sent."""
        self.reply = self._loop.create_future()
        self.reply.add_done_callback(_retrieve)
        return self.reply

    def signal(self, signum: int) -> None:
        """Send ``signum`` unless the child is already reaped (its pid may then be reused)."""
        if not self.exited.done() and self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def _on_readable(self) -> None:
        sock = self.sock
        while sock is not None:
            try:
                chunk = sock.recv(_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._on_eof()
                break
            self._buffer += chunk
            if len(chunk) < _CHUNK:
                break
        self._deliver()

    def _deliver(self) -> None:
        buffer = self._buffer
        while len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            end = HEADER.size + size
            if len(buffer) < end:
                return
            payload = bytes(buffer[HEADER.size : end])
            del buffer[:end]
            if not self.ready.done():
                self.ready.set_result(None)  # the first frame says the child is ready
            elif self.reply is not None and not self.reply.done():
                self.reply.set_result(payload)

    def _on_eof(self) -> None:
        self._close_socket()
        # Normally the child is exiting; if it closed its socket and lives on, it is useless.
        self.signal(signal.SIGKILL)

    def reap(self) -> None:
        """The child has exited: collect its status, fail what waited on it, release its pipes."""
        if self.exited.done():
            return
        self._unwatch_exit()
        self._on_readable()  # a reply sent just before the exit still counts
        self.process.join()  # at once: the exit status is known
        exitcode = self.process.exitcode
        self._close_socket()
        self.process.close()
        if self._loop.is_closed():
            return
        if not self.ready.done():
            self.ready.set_exception(
                WorkerProcessDiedError(f"a worker process exited while starting ({describe_exit(exitcode)})")
            )
        if self.reply is not None and not self.reply.done():
            self.reply.set_exception(
                WorkerProcessDiedError(f"the process running the task died ({describe_exit(exitcode)})")
            )
        self.exited.set_result(exitcode)

    def _close_socket(self) -> None:
        if self.sock is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _unwatch_exit(self) -> None:
        if self._sentinel is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._sentinel)
            self._sentinel = None

    def detach(self) -> None:
        """Stop watching the child (the pool is closing); closing the socket tells it to exit."""
        self._close_socket()
        self._unwatch_exit()


class ProcessPool:
    """``size`` child processes running calls submitted from one event loop (a worker's runner).

    Args:
        size: how many children, so how many calls run at once.
        allow_dill: a value pickle refuses may come back as dill (the application allows dill).
        grace: seconds between SIGTERM and SIGKILL when a child must stop.
    """

    def __init__(self, size: int, *, allow_dill: bool = False, grace: float = 1.0) -> None:
        self.size = size
        self.grace = grace
        self._allow_dill = allow_dill
        self._loop: asyncio.AbstractEventLoop | None = None
        self._children: set[_Child] = set()
        self._idle: list[_Child] = []
        self._waiters: collections.deque[asyncio.Future[_Child]] = collections.deque()
        self._missing = 0
        self._paths: dict[Callable[..., Any], str] = {}
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The process ids of the current children."""
        return sorted(child.pid for child in self._children)

    def start(self) -> None:
        """Start every child; call from the loop that will run tasks.

        Raises:
            RuntimeError: the main script started the worker outside ``if __name__ ==
                "__main__":`` (the children would start it again).
        """
        check_main_guard()
        self._loop = asyncio.get_running_loop()
        _preload_fork_server()
        for _ in range(self.size):
            self._spawn()
        # Children are not daemonic (a task may start processes of its own), so multiprocessing
        # would wait for them at exit: a pool left open is closed first.
        atexit.register(self.close)

    async def run(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        """Run ``func(*args, **kwargs)`` in a child; its errors are raised here, with the child's
        traceback as their cause."""
        call = self._request(func, args, kwargs)
        try:
            request = frame(pickle.dumps(call, pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # noqa: BLE001 - whatever pickle refuses, the task cannot run here
            return UnsendableValue(
                f"the task's arguments cannot be sent to a worker process ({type(exc).__name__}: {exc})"
            )
        child = await self._checkout()
        assert self._loop is not None
        reply = child.begin()
        try:
            # A child that died since it was checked in has no socket, or fails the send; either
            # way its exit fails the reply.
            if child.sock is not None:
                with contextlib.suppress(OSError):
                    await self._loop.sock_sendall(child.sock, request)
            done, _ = await asyncio.wait((reply,), timeout=timeout)
        except asyncio.CancelledError:
            if reply.done() and reply.exception() is None:
                self._checkin(child)  # it finished just in time: the child is fine
            else:
                await self._stop(child)
            raise
        if not done:
            await self._stop(child)
            raise TaskTimeoutError(f"task ran longer than its timeout of {timeout} s; its process was killed")
        payload = reply.result()  # WorkerProcessDiedError if the child died
        self._checkin(child)
        return _decode(payload)

    def _request(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        path = self._paths.get(func)
        if path is None:
            path = self._paths[func] = _function_path(func)
        try:
            context: TaskContext | None = current_task()
        except RuntimeError:
            context = None
        return path, args, kwargs, context

    async def _stop(self, child: _Child) -> None:
        """SIGTERM, SIGKILL after the grace, and wait until the child is reaped (and replaced)."""
        try:
            child.signal(signal.SIGTERM)
            done, _ = await asyncio.wait((child.exited,), timeout=self.grace)
            if not done:
                child.signal(signal.SIGKILL)
                await asyncio.shield(child.exited)
        except BaseException:
            child.signal(signal.SIGKILL)
            raise

    # -- children ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        assert self._loop is not None
        child = _Child(self._loop, self._allow_dill)
        self._children.add(child)
        child.ready.add_done_callback(lambda ready: self._on_ready(child, ready))
        child.exited.add_done_callback(lambda _: self._on_exited(child))

    def _on_ready(self, child: _Child, ready: asyncio.Future[None]) -> None:
        if ready.exception() is None:
            self._checkin(child)
            return
        # Not replaced at once, or a child that cannot start would be restarted in a loop: the
        # next call starts one, and a waiting call gets the error (its task fails and retries).
        logger.error("%s", ready.exception())
        self._missing += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ready.exception() or RuntimeError())
                break

    def _on_exited(self, child: _Child) -> None:
        self._children.discard(child)
        if child in self._idle:
            self._idle.remove(child)
        if not self._closed and child.ready.exception() is None:
            self._spawn()  # a child that had started died or was killed: replace it now

    def _checkin(self, child: _Child) -> None:
        if child.exited.done() or self._closed:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(child)
                return
        self._idle.append(child)

    async def _checkout(self) -> _Child:
        if self._closed or self._loop is None:
            raise RuntimeError("the process pool is not running")
        while self._idle:
            child = self._idle.pop()
            if not child.exited.done():  # an idle child that died is dropped by _on_exited, later
                return child
        if self._missing:
            self._missing -= 1
            self._spawn()
        waiter: asyncio.Future[_Child] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._checkin(waiter.result())
            raise

    def close(self) -> None:
        """Stop every child and reap it: idle ones exit when their socket closes, the rest are
        terminated after ``grace`` seconds and killed after as many more."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        children = [child for child in self._children if not child.exited.done()]
        for child in children:
            child.detach()
        for waiter in self._waiters:
            waiter.cancel()
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            deadline = time.monotonic() + self.grace
            for child in children:
                if signum is not None and child.process.exitcode is None:
                    child.signal(signum)
                child.process.join(None if signum == signal.SIGKILL else max(deadline - time.monotonic(), 0))
        for child in children:
            child.reap()
        self._children.clear()
        self._idle.clear()


@functools.cache
def _preload_fork_server() -> None:
    """Have the fork server import the main module and the child's code once, before it starts
    (it is shared by the whole process, and started on first use)."""
    if isinstance(_CONTEXT, ForkServerContext):
        _CONTEXT.set_forkserver_preload(["__main__", _child.__name__])


def _function_path(func: Callable[..., Any]) -> str:
    """The import path a child uses to find ``func`` (``__main__`` as :func:`function_name` names it)."""
    func = getattr(func, "__omniq_function__", func)
    try:
        return function_name(func)
    except ValidationError as exc:
        raise UnknownFunctionError(f"cannot run in a worker process: {exc}") from exc


@functools.cache
def _stand_in(module: str, qualname: str) -> type[Exception]:
    """An exception class named like one that could not be rebuilt here (``retry_on`` matches it)."""
    return type(qualname.rpartition(".")[2], (Exception,), {"__module__": module, "__qualname__": qualname})


def _decode(payload: bytes) -> Any:
    """The value a child sent back, or raise the error it reported."""
    try:
        reply = pickle.loads(payload)  # noqa: S301 - from our own child
    except Exception as exc:  # noqa: BLE001 - e.g. the value's class cannot be imported here
        return UnsendableValue(f"the worker process's reply cannot be read ({type(exc).__name__}: {exc})")
    tag = reply[0]
    if tag == "value":
        return reply[1]
    if tag == "msgpack":
        return msgspec.msgpack.decode(reply[1])
    if tag == "dill":
        import dill  # noqa: PLC0415 - optional, only when allowed

        return dill.loads(reply[1])  # noqa: S301 - from our own child
    if tag == "unsendable":
        return UnsendableValue(reply[1])
    if tag == "error":
        error: BaseException = reply[1]
        raise error from RemoteTraceback(reply[2])
    _, module, qualname, message, formatted = reply
    raise _stand_in(module, qualname)(message) from RemoteTraceback(formatted)
