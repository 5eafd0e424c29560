"""Process order over a pool: a read sees every write of this backend object that began before it.

With one connection (SQLite's), statements run in the order they were issued; a pool runs them side
by side, so a read could overtake a write this process issued earlier and still had in flight. The
worker writes an outcome and then the result; a caller that saw the outcome must also see the result.
Reads therefore wait for the writes in flight when they begin. Writes never wait for each other.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

__all__ = ["InFlight", "reads", "writes"]

P = ParamSpec("P")
R = TypeVar("R")


class InFlight:
    """The writes of one backend object that have begun and not yet ended."""

    def __init__(self) -> None:
        self._writes: set[asyncio.Future[None]] = set()

    def begin(self) -> asyncio.Future[None]:
        """Register a write; end it with :meth:`end`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.add(future)
        return future

    def end(self, future: asyncio.Future[None]) -> None:
        """The write has ended (committed, failed or been cancelled)."""
        self._writes.discard(future)
        if not future.done():
            future.set_result(None)

    async def settled(self) -> None:
        """Wait for the writes in flight now (not for those begun later)."""
        if self._writes:
            await asyncio.wait(list(self._writes))


class _Ordered(Protocol):
    in_flight: InFlight


S = TypeVar("S", bound=_Ordered)

#: An async method of an object that keeps an :class:`InFlight`.
Method = Callable[Concatenate[S, P], Coroutine[Any, Any, R]]


def writes(
    method: Method[S, P, R],
) -> Method[S, P, R]:
    """Mark a method as a write that later reads of the same object wait for."""

    @functools.wraps(method)
    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        future = self.in_flight.begin()
        try:
            return await method(self, *args, **kwargs)
        finally:
            self.in_flight.end(future)

    return wrapper


def reads(
    method: Method[S, P, R],
) -> Method[S, P, R]:
    """Mark a method as a read that first waits for the writes in flight when it is called."""

    @functools.wraps(method)
    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        await self.in_flight.settled()
        return await method(self, *args, **kwargs)

    return wrapper
