"""Wake-ups over ``LISTEN``/``NOTIFY`` on a dedicated connection, with polling when it is down.

Enqueues notify the tasks channel once per statement (payload: the queues made claimable) and
stored results notify the results channel (payload: the task ids). The listener holds one
connection outside the pool. When the server drops it, every waiter is woken (it then re-checks
and falls back to polling) and the connection is made again on a later wait, at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from omniq.core.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["MAX_PAYLOAD", "Listener", "Waiters", "claimable_payload", "wake_payload"]

logger = logging.getLogger("omniq.postgres")

#: How long after a failed attempt the listener tries to connect again (seconds).
RECONNECT_DELAY = 1.0

#: Payloads longer than this are sent empty, meaning "anything" (PostgreSQL's limit is 8000 bytes).
MAX_PAYLOAD = 7000


def wake_payload(names: Iterable[str]) -> str | None:
    """The payload naming ``names`` (comma-separated, each once); ``None`` when there are none; empty
    (wake everyone) when a name holds a comma or the list would be too long."""
    unique = dict.fromkeys(names)
    if not unique:
        return None
    payload = ",".join(unique)
    if len(payload.encode()) > MAX_PAYLOAD or any("," in name for name in unique):
        return ""
    return payload


def claimable_payload(records: Sequence[TaskRecord]) -> str | None:
    """The wake-up payload for the queues of records claimable now (delayed ones wake nobody:
    workers poll for them at their poll interval)."""
    now = time.time()
    return wake_payload(r.queue for r in records if r.status in CLAIMABLE_STATUSES and r.due_at <= now)


class Waiters:
    """Futures waiting for notifications about some names (queues or task ids)."""

    def __init__(self) -> None:
        self._waiting: list[tuple[frozenset[str], asyncio.Future[None]]] = []
        #: Counts notifications (and listener changes): a caller compares two readings to learn
        #: whether anything arrived in between.
        self.count = 0

    @contextlib.contextmanager
    def waiting(self, names: Iterable[str]) -> Any:
        """A future resolved by the next notification naming one of ``names`` (while in the block)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (frozenset(names), future)
        self._waiting.append(entry)
        try:
            yield future
        finally:
            self._waiting.remove(entry)

    def notify(self, payload: str | None) -> None:
        """Wake the waiters named in ``payload`` (all of them for ``None`` or an empty payload)."""
        self.count += 1
        named = frozenset(payload.split(",")) if payload else None
        for names, future in self._waiting:
            if not future.done() and (named is None or not names.isdisjoint(named)):
                future.set_result(None)


class Listener:
    """A connection LISTENing on some channels, made on first use and again after a drop.

    Args:
        connect: makes a new connection (outside any pool).
        channels: the handler of each channel's payloads.
        on_change: called when the connection is made or lost: notifications may have been missed.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        channels: dict[str, Callable[[str], None]],
        on_change: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._channels = channels
        self._on_change = on_change
        self._conn: Any = None
        self._connecting: asyncio.Task[None] | None = None
        self._next_attempt = 0.0
        self._started = False

    @property
    def listening(self) -> bool:
        """Whether notifications are being received now."""
        return self._conn is not None and not self._conn.is_closed()

    async def ready(self) -> bool:
        """Whether notifications are being received; starts (re)connecting when they are not.

        The first call waits for the connection, so that the first wait already listens; later
        calls reconnect in the background while their caller polls.
        """
        if self.listening:
            return True
        loop = asyncio.get_running_loop()
        if self._connecting is None and loop.time() >= self._next_attempt:
            self._connecting = asyncio.create_task(self._reconnect(), name="omniq-postgres-listen")
        if not self._started and self._connecting is not None:
            # Shielded: a waiter cancelled meanwhile must not leave a half-made connection behind.
            await asyncio.shield(self._connecting)
            self._started = True
        return self.listening

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            conn = await self._connect()
            try:
                for channel, handler in self._channels.items():
                    await conn.add_listener(channel, _receiver(handler))
            except BaseException:
                conn.terminate()
                raise
        except Exception as exc:  # noqa: BLE001 - polling stands in until the next attempt
            self._next_attempt = loop.time() + RECONNECT_DELAY
            logger.warning("cannot LISTEN for wake-ups (%s); polling until it can", exc)
            return
        finally:
            self._connecting = None
        conn.add_termination_listener(self._dropped)
        self._conn = conn
        self._on_change()

    def _dropped(self, conn: Any) -> None:
        if conn is self._conn:
            self._conn = None
            logger.warning("the LISTEN connection was closed; polling until it is made again")
            self._on_change()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        conn, self._conn = self._conn, None
        self._started = False
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # noqa: BLE001 - a connection that cannot close politely is dropped
                conn.terminate()


def _receiver(handler: Callable[[str], None]) -> Callable[[Any, int, str, str], None]:
    """asyncpg's listener signature around a handler of payloads."""

    def receive(connection: Any, pid: int, channel: str, payload: str) -> None:
        del connection, pid, channel
        handler(payload)

    return receive
