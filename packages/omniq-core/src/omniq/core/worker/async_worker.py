"""The asyncio worker: coroutines run on the loop, plain functions in interruptible threads."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from omniq.core.errors import TaskTimeoutError
from omniq.core.worker._threads import InterruptibleThreads
from omniq.core.worker.base import BaseWorker, Runner

__all__ = ["AsyncWorker", "run_coroutine"]


async def run_coroutine(awaitable: Awaitable[Any], timeout: float | None) -> Any:
    """Await a task's coroutine on this loop, raising :class:`TaskTimeoutError` past ``timeout``.

    Cancellation, not a thread interrupt: the coroutine's own ``finally`` blocks run. A
    ``TimeoutError`` the task raises itself is its own error, not a timeout.
    """
    if timeout is None:
        return await awaitable
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await awaitable
    except TimeoutError:
        if scope.expired():
            raise TaskTimeoutError(f"task ran longer than its timeout of {timeout} s") from None
        raise


class _AsyncRunner:
    def __init__(self, max_threads: int) -> None:
        self._threads = InterruptibleThreads(max_threads)
        self._is_coroutine: dict[Callable[..., Any], bool] = {}

    async def run(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        is_coroutine = self._is_coroutine.get(func)
        if is_coroutine is None:
            is_coroutine = self._is_coroutine[func] = inspect.iscoroutinefunction(func)
        if not is_coroutine:
            return await self._threads.run(func, args, kwargs, timeout)
        return await run_coroutine(func(*args, **kwargs), timeout)

    def close(self) -> None:
        self._threads.close()


class AsyncWorker(BaseWorker):
    """Runs coroutine functions concurrently on the event loop, up to ``max_workers`` at once.

    Plain functions run in a pool of ``max_workers`` threads so that they cannot block the loop.
    """

    kind: ClassVar[str] = "async"

    def make_runner(self) -> Runner:
        return _AsyncRunner(self.max_workers)
