"""What a worker logs while its store cannot be reached: one line when it is lost, one when it is back.

A lost connection is expected (a restart, a failover, a network cut), not a bug: every loop of the
worker retries on its own, so a stack trace per failed call (claims, heartbeats, finishes, reaps,
several a second) buries the one line an operator needs. Connection faults are logged once per
outage, as a WARNING naming the store and what is being retried, then an INFO line with how long
the store was down and how many calls were retried; their tracebacks go to DEBUG. Any other error
is logged with its traceback, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time

__all__ = ["OutageLog", "is_connection_fault"]

#: Words in the class names of driver errors that mean "the store could not be reached" (asyncpg's
#: ``ConnectionDoesNotExistError``, ``PostgresConnectionError``, ``CannotConnectNowError``; redis-py's
#: ``ConnectionError``, ...), for drivers whose errors are not ``OSError``.
_FAULT_NAMES = ("Connection", "CannotConnect", "Unavailable")


def is_connection_fault(exc: BaseException) -> bool:
    """Whether ``exc`` says the store could not be reached, rather than that the call was wrong.

    Backends raise ``ConnectionError`` (or another ``OSError``) or a ``TimeoutError`` for such
    faults; errors of drivers that do not are recognised by their class names.
    """
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
        return True
    return any(word in cls.__name__ for cls in type(exc).__mro__ for word in _FAULT_NAMES)


class OutageLog:
    """The log of one worker's connection to its store."""

    def __init__(self, logger: logging.Logger, store: object) -> None:
        self._logger = logger
        self._store = store
        self._down_since: float | None = None
        self._retried = 0

    @property
    def down(self) -> bool:
        """Whether the last call to the store failed with a connection fault."""
        return self._down_since is not None

    def failed(self, what: str, exc: BaseException) -> None:
        """A call (``what``: "claim", "finish", ...) failed and will be retried."""
        if not is_connection_fault(exc):
            self._logger.error("%s failed; retrying", what, exc_info=exc)
            return
        self._retried += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._logger.warning(
                "lost the connection to %r (%s: %s); retrying %s and every other call until it is back",
                self._store,
                type(exc).__name__,
                exc,
                what,
            )
        self._logger.debug("%s failed", what, exc_info=exc)

    def succeeded(self) -> None:
        """A call to the store succeeded: if it was down, say it is back."""
        if self._down_since is None:
            return
        down_for = time.monotonic() - self._down_since
        self._logger.info(
            "the connection to %r is back after %.1f s (%d calls retried)",
            self._store,
            down_for,
            self._retried,
        )
        self._down_since = None
        self._retried = 0
