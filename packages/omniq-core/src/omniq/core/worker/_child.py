"""The code a process-pool child runs: read a call, run it, send back what happened.

A child serves one call at a time over its end of a socket pair, with length-prefixed pickle
frames. Functions arrive by import path, never pickled, and are resolved (and cached) the way a
worker resolves them. Arguments and return values cross by pickle; a value pickle refuses is sent
as msgpack (or dill, when the application allows it), and failing that the parent is told why.

A child never outlives its parent: a watchdog thread exits the process as soon as the parent's
sentinel pipe closes, even while a task is blocked in C.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from omniq.core._exceptions import exception_message, formatted_exception
from omniq.core.context import TaskContext, enter_task, leave_task
from omniq.core.function_policy import FunctionPolicy
from omniq.core.functions import FunctionRegistry

__all__ = ["HEADER", "Reply", "Request", "frame", "serve"]

#: Every frame starts with its payload length.
HEADER = struct.Struct("!Q")

#: What the parent sends: ``(import path, args, kwargs, the caller's task context)``.
Request = tuple[str, tuple[Any, ...], dict[str, Any], TaskContext | None]

#: What a child sends back: a tag, then the tag's fields (see :func:`_reply_value`).
Reply = tuple[Any, ...]

READY: Reply = ("ready",)


def frame(payload: bytes) -> bytes:
    """``payload`` with its length in front."""
    return HEADER.pack(len(payload)) + payload


def serve(sock: socket.socket, allow_dill: bool) -> None:
    """The child's main loop, until the parent closes the socket or dies."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to running tasks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    sock.setblocking(True)
    # The parent resolved each function under its policy before it sent the call here.
    functions = FunctionRegistry(FunctionPolicy(allow_any_function=True))
    loop: asyncio.AbstractEventLoop | None = None
    try:
        sock.sendall(frame(pickle.dumps(READY)))
        while (payload := _read_frame(sock)) is not None:
            request: Request = pickle.loads(payload)  # noqa: S301 - from our own parent
            reply, loop = _call(functions, request, loop)
            sock.sendall(frame(_encode(reply, allow_dill)))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent closed the pool (or died) while this child was starting or replying
    finally:
        if loop is not None:
            loop.close()


def _exit_with_parent() -> None:
    """Exit at once when the parent process ends, whatever the main thread is doing."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="omniq-parent-watch", daemon=True).start()


def _read_frame(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            return None
        received += count
    return bytes(buffer)


def _call(
    functions: FunctionRegistry, request: Request, loop: asyncio.AbstractEventLoop | None
) -> tuple[Reply, asyncio.AbstractEventLoop | None]:
    path, args, kwargs, context = request
    token = None if context is None else enter_task(context)
    try:
        func: Callable[..., Any] = functions.resolve(path)
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            # One loop per child, reused: coroutine tasks do not pay for a new loop each time.
            loop = loop or asyncio.new_event_loop()
            try:
                value = loop.run_until_complete(value)
            finally:
                _cancel_leftovers(loop)
        return ("value", value), loop
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the parent
        return ("error", exc, formatted_exception(exc)), loop
    finally:
        if token is not None:
            leave_task(token)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks a coroutine left behind, so that none runs on during the next call."""
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def _encode(reply: Reply, allow_dill: bool) -> bytes:
    if reply[0] == "value":
        return _encode_value(reply[1], allow_dill)
    return _encode_error(reply[1], reply[2])


def _encode_value(value: Any, allow_dill: bool) -> bytes:
    """Pickle, else msgpack (the result is stored as msgpack anyway), else dill if allowed."""
    try:
        return pickle.dumps(("value", value), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - any pickling failure: try the next encoding
        pickle_error = exc
    try:
        return pickle.dumps(("msgpack", msgspec.msgpack.encode(value)))
    except Exception:  # noqa: BLE001, S110 - msgspec cannot either: dill, or report pickle's reason
        pass
    if allow_dill:
        try:
            import dill  # noqa: PLC0415 - optional, loaded on demand

            return pickle.dumps(("dill", dill.dumps(value)))
        except Exception:  # noqa: BLE001, S110 - report pickle's reason below
            pass
    kind = type(value)
    message = (
        f"the task returned a value of type {kind.__module__}.{kind.__qualname__}, which cannot be "
        f"sent back from the worker process ({type(pickle_error).__name__}: {pickle_error}); "
        "return plain data"
    )
    return pickle.dumps(("unsendable", message))


def _encode_error(exc: BaseException, formatted: str) -> bytes:
    """The exception itself when it survives a pickle round trip, else its name and message."""
    if isinstance(exc, Exception):  # SystemExit and friends must not be raised in the parent
        try:
            payload = pickle.dumps(("error", exc, formatted), pickle.HIGHEST_PROTOCOL)
            pickle.loads(payload)  # noqa: S301 - an exception whose class cannot be rebuilt fails here
            return payload
        except Exception:  # noqa: BLE001, S110 - fall back to the exception as data
            pass
    kind = type(exc)
    return pickle.dumps(
        ("foreign_error", kind.__module__, kind.__qualname__, exception_message(exc), formatted)
    )
