"""One event loop in a background thread, for the sync facade.

Connections belong to the loop that opened them, so the sync facade keeps one loop for its whole
life instead of ``asyncio.run`` per call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["LoopThread", "shared_loop", "twin_of"]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def twin_of(async_method: Callable[..., Any]) -> Callable[[F], F]:
    """Give a blocking twin the docstring of the async method it wraps (written once, there)."""

    def adopt(method: F) -> F:
        method.__doc__ = async_method.__doc__
        return method

    return adopt


class LoopThread:
    """Runs coroutines on a private loop thread, started on first use."""

    def __init__(self, name: str = "omniq-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the loop thread runs."""
        return self._loop is not None

    def call(self, func: Callable[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``func(*args, **kwargs)`` on the loop and wait for its result."""
        _refuse_inside_running_loop(func)
        loop = self._start()
        future = asyncio.run_coroutine_threadsafe(func(*args, **kwargs), loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain callback on the loop (thread-safe, never blocks)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(func, *args)

    def stop(self) -> None:
        """Stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


def _refuse_inside_running_loop(func: Callable[..., Any]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    name = getattr(func, "__name__", "this method")
    raise RuntimeError(
        f"OmniQ.{name}() blocks, so it cannot be called from a running event loop; "
        f"use AsyncOmniQ and 'await oq.{name}(...)' instead"
    )


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def shared_loop() -> LoopThread:
    """The process's loop thread for blocking components made without a portal of their own.

    Components handed to one worker must live on one loop (their connections belong to the loop
    that opened them), so blocking components share this one by default. It is never stopped: its
    thread is a daemon.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LoopThread("omniq-shared-loop")
        return _shared
