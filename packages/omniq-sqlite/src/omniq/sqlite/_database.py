"""One aiosqlite connection set up for many processes: WAL, write transactions, change signals.

The connection runs in autocommit mode. A write of several statements runs in
:meth:`Database.transaction`, whose ``BEGIN IMMEDIATE`` takes the file's write lock before anything
is read, so that it never has to upgrade a read lock (SQLite refuses that with ``SQLITE_BUSY``
rather than wait). A write of one statement (:meth:`Database.execute`) is a transaction of its
own: SQLite takes the write lock when the statement starts, as ``BEGIN IMMEDIATE`` would, and it
costs one round trip to the connection's thread instead of three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiosqlite

from omniq.core.errors import ConfigurationError, StoreNotFoundError
from omniq.sqlite._schema import check_version, has_schema, migrate
from omniq.sqlite._wakeup import WakeChannel

__all__ = [
    "POLL_INTERVAL",
    "ROWS_PER_STATEMENT",
    "Database",
    "Row",
    "Signal",
    "execute_values",
    "fetch",
    "file_uri",
    "run_to_end",
]

logger = logging.getLogger("omniq.sqlite")

T = TypeVar("T")

#: A result row (no row factory is set, so rows are plain tuples).
Row = tuple[Any, ...]

#: The oldest SQLite with everything the statements use (``RETURNING`` came in 3.35).
MIN_SQLITE_VERSION = (3, 35, 0)

#: Compiled statements kept per connection: the multi-row statements come in many row counts.
STATEMENT_CACHE_SIZE = 512

#: WAL pages written between automatic checkpoints.
WAL_AUTOCHECKPOINT_PAGES = 10_000

#: Rows per multi-row statement: at most 19 parameters each stays far below SQLite's limit of
#: 32,766 parameters, and few row counts means few statements to compile and cache.
ROWS_PER_STATEMENT = 500

#: How often a waiter asks whether another connection committed (``PRAGMA data_version``).
POLL_INTERVAL = 0.005

#: How often a waiter for tasks asks that while other processes wake it through the
#: :class:`~omniq.sqlite._wakeup.WakeChannel`: only writers that cannot reach it wait this long.
PEER_POLL_INTERVAL = 0.1


class Signal:
    """A wake-up call within this process: each :meth:`notify` wakes everyone waiting on
    :attr:`event` at that moment, and later waiters wait for the next one; ``also`` is called
    with each notification (to pass it on to other processes)."""

    __slots__ = ("also", "event")

    def __init__(self, also: Callable[[], None] | None = None) -> None:
        self.event = asyncio.Event()
        self.also = also

    def notify(self) -> None:
        """Wake the current waiters."""
        event, self.event = self.event, asyncio.Event()
        event.set()
        if self.also is not None:
            self.also()


class _ChangeCounter:
    """``PRAGMA data_version`` on a connection of its own, read in the event loop's thread.

    The number changes when any other connection (this process's main one included) commits. The
    read touches only SQLite's shared memory (tens of microseconds); idle workers make it 200 times
    a second, and as a round trip to aiosqlite's thread it about doubled their CPU use.
    """

    def __init__(self, path: Path) -> None:
        # timeout=0: never wait for a lock in the event loop; a busy file reads as "changed".
        self._conn = sqlite3.connect(
            file_uri(path, "rw"), uri=True, isolation_level=None, timeout=0, check_same_thread=False
        )

    def read(self) -> int | None:
        """The current version, or ``None`` if the file was busy for a moment."""
        try:
            version: int = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.OperationalError:
            return None
        return version

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class _LoopState:
    """What asyncio binds to one event loop: the locks and the in-process change signals."""

    __slots__ = ("lock", "loop", "open_lock", "peers", "reading", "results", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: WakeChannel) -> None:
        self.loop = loop
        self.open_lock = asyncio.Lock()
        self.lock = asyncio.Lock()
        self.tasks = Signal(also=wake.notify)
        self.results = Signal()
        # Notified when another process says it made tasks claimable.
        self.peers = Signal()
        # The file descriptor of the wake-up socket this loop watches, if any.
        self.reading: int | None = None


class Database:
    """The connection to one database file, opened and closed idempotently.

    Coroutines of one process share the connection. An asyncio lock keeps their write transactions
    from interleaving (SQLite's own lock only separates connections) and queues reads behind the
    transactions that began before them, so that, as with the in-memory backend, an operation sees
    the effect of every operation of this process that started earlier. The lock and the change
    signals belong to the event loop that uses the database; one loop at a time may use it.
    """

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._changes: _ChangeCounter | None = None
        self._state: _LoopState | None = None
        self._wake = WakeChannel(path)

    @property
    def conn(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._conn is None:
            raise RuntimeError(
                f"the SQLite database {self.path} is not open: call `await backend.open()` "
                "or use `async with backend:`"
            )
        return self._conn

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            if state is not None and state.loop.is_running():
                raise RuntimeError(
                    f"the SQLite database {self.path} is in use by another running event loop; "
                    "open one backend object per event loop (per thread)"
                )
            if state is not None:
                self._unwatch(state)
            state = self._state = _LoopState(loop, self._wake)
        return state

    async def open(self, *, existing: bool = False) -> None:
        """Connect, set the pragmas and create or migrate the schema (idempotent).

        With ``existing``, create nothing: no directory, no file, no tables.

        Raises:
            StoreNotFoundError: with ``existing``, naming the path if there is no file or the file
                holds no OmniQ tables.
        """
        async with self._loop_state().open_lock:
            if self._conn is None:
                conn = await self._connect(existing)
                try:
                    self._changes = _ChangeCounter(self.path)
                except BaseException:
                    await run_to_end(conn.close())
                    raise
                self._conn = conn

    async def _connect(self, existing: bool) -> aiosqlite.Connection:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise ConfigurationError(
                f"omniq-sqlite needs SQLite {'.'.join(map(str, MIN_SQLITE_VERSION))} or newer "
                f"(for UPDATE ... FROM and RETURNING); this Python has SQLite {sqlite3.sqlite_version}"
            )
        if existing:
            if not self.path.exists():
                raise StoreNotFoundError(
                    f"there is no OmniQ database at {self.path}: the file does not exist "
                    "(enqueueing a task or starting a worker creates it)"
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # mode=rw: SQLite itself never creates the file.
        target = file_uri(self.path, "rw" if existing else "rwc")
        # Opened once plainly first: a file aiosqlite cannot open (a directory, no permission)
        # fails here with the path named, and leaves no aiosqlite thread behind (its thread
        # outlives a failed connect and later writes to a closed event loop).
        try:
            await asyncio.to_thread(_open_and_close, target)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the SQLite database {self.path}: {exc}") from None
        conn = await aiosqlite.connect(
            target,
            uri=True,
            isolation_level=None,
            timeout=self.busy_timeout_ms / 1000,
            cached_statements=STATEMENT_CACHE_SIZE,
        )
        try:
            if existing and not await has_schema(conn):
                raise StoreNotFoundError(
                    f"the SQLite file {self.path} holds no OmniQ database (no OmniQ tables in it)"
                )
            await self._configure(conn)
            if existing:  # a read-only command: never DDL, which may rewrite a large table
                await check_version(conn, str(self.path))
            else:
                async with _immediate(conn):
                    await migrate(conn, str(self.path))
        except BaseException:
            await run_to_end(conn.close())
            raise
        return conn

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        mode = await self._enable_wal(conn)
        if mode != "wal":
            # Still correct (SQLite's locks serialize the processes) but readers wait for writers.
            logger.warning(
                "%s: SQLite refused WAL mode (journal_mode=%s); concurrent workers will be slower",
                self.path,
                mode,
            )
        # NORMAL in WAL mode syncs at checkpoints, not at every commit: a power cut may lose the
        # last commits but never corrupts the file. A process crash loses nothing.
        await conn.execute("PRAGMA synchronous = NORMAL")
        # A checkpoint copies the WAL into the file and syncs it, which costs milliseconds. Ten
        # times SQLite's default interval (about 40 MB of WAL) makes that rare, and a page that the
        # queue rewrites again and again between checkpoints is copied once.
        await conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        await conn.execute("PRAGMA foreign_keys = OFF")
        await conn.execute("PRAGMA cache_size = -65536")

    async def _enable_wal(self, conn: aiosqlite.Connection) -> str:
        # Switching a new file to WAL needs it to itself for a moment, and SQLite reports "locked"
        # at once rather than calling the busy handler: retry while other processes create it too.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout_ms / 1000
        while True:
            try:
                rows = await fetch(conn, "PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or loop.time() > deadline:
                    raise
                await asyncio.sleep(0.01)
            else:
                return str(rows[0][0]).lower()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        changes, self._changes = self._changes, None
        if changes is not None:
            changes.close()
        if self._state is not None:
            self._unwatch(self._state)
        self._wake.close()
        if conn is not None:
            await conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        If the caller is cancelled, the statements it already queued still run on the connection's
        thread; the rollback is queued after them, so nothing of the block survives unless
        ``COMMIT`` itself had been queued.
        """
        conn = self.conn
        async with self._loop_state().lock, _immediate(conn):
            yield conn

    async def execute(self, query: str, parameters: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on its own and return its rows, in one round trip.

        A statement outside ``BEGIN`` is a transaction of its own (autocommit), and a writing one
        takes the file's write lock before it reads anything, as ``BEGIN IMMEDIATE`` does. It
        waits for this process's transactions that began earlier (and would otherwise run inside
        them).
        """
        conn = self.conn
        async with self._loop_state().lock:
            return await fetch(conn, query, parameters)

    async def changes(self, query: str, parameters: Sequence[Any] = ()) -> int:
        """Run one writing statement on its own; return how many rows it changed."""
        conn = self.conn
        async with self._loop_state().lock:
            cursor = await conn.execute(query, parameters)
        return cursor.rowcount

    async def execute_values(self, build: Callable[[int], str], rows: Sequence[Row]) -> list[Row]:
        """Run the statement ``build(n)`` with ``rows`` as its ``VALUES`` list; one statement if the
        rows fit in one, else one per chunk inside a transaction."""
        if len(rows) <= ROWS_PER_STATEMENT:
            return await self.execute(build(len(rows)), _flat(rows))
        async with self.transaction() as conn:
            return await execute_values(conn, build, rows)

    @property
    def tasks_changed(self) -> Signal:
        """Notified when this process made tasks claimable."""
        return self._loop_state().tasks

    @property
    def results_changed(self) -> Signal:
        """Notified when this process stored results."""
        return self._loop_state().results

    def data_version(self) -> int | None:
        """A number that changes whenever a connection commits; ``None`` when it cannot be read
        right now (treat that as a change)."""
        if self._changes is None:
            raise RuntimeError(f"the SQLite database {self.path} is not open")
        return self._changes.read()

    async def wait_for_change(
        self, signal: asyncio.Event, timeout: float, *, since: int | None, tasks: bool = False
    ) -> int | None:
        """Wait until ``signal`` is set, a commit changed the data version ``since`` (``None``:
        since now), or ``timeout`` seconds pass; returns the version last seen.

        With ``tasks``, another process's wake-up (it made tasks claimable) also ends the wait,
        and the data version is read every :data:`PEER_POLL_INTERVAL` rather than every
        :data:`POLL_INTERVAL` once such wake-ups can arrive.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        version = self.data_version()
        if since is None:
            since = version
        elif version != since:
            return version
        events = [signal]
        poll = POLL_INTERVAL
        if tasks and self._watch_peers():
            events.append(self._loop_state().peers.event)
            poll = PEER_POLL_INTERVAL
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            while (remaining := deadline - loop.time()) > 0:
                done, _ = await asyncio.wait(
                    waiters, timeout=min(poll, remaining), return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    break
                version = self.data_version()
                if version != since:
                    break
        finally:
            for waiter in waiters:
                waiter.cancel()
        return version

    def _watch_peers(self) -> bool:
        """Watch this process's wake-up socket in the running loop; whether there is one."""
        state = self._loop_state()
        if state.reading is None:
            sock = self._wake.listen()
            if sock is None:
                return False
            state.reading = sock.fileno()
            state.loop.add_reader(state.reading, self._on_peer_wake, state)
        return True

    def _on_peer_wake(self, state: _LoopState) -> None:
        self._wake.drain()
        state.peers.notify()

    @staticmethod
    def _unwatch(state: _LoopState) -> None:
        if state.reading is not None and not state.loop.is_closed():
            state.loop.remove_reader(state.reading)
        state.reading = None


@contextlib.asynccontextmanager
async def _immediate(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises or is cancelled."""
    try:
        await conn.execute("BEGIN IMMEDIATE")
        yield
        await conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error, ValueError):  # no transaction left to end
            await run_to_end(conn.execute("ROLLBACK"))
        raise


async def fetch(conn: aiosqlite.Connection, query: str, parameters: Sequence[Any] = ()) -> list[Row]:
    """Every row of ``query``, in one round trip to the connection's thread."""
    return cast(list[Row], await conn.execute_fetchall(query, parameters))


async def execute_values(
    conn: aiosqlite.Connection, build: Callable[[int], str], rows: Sequence[Row]
) -> list[Row]:
    """Run ``build(n)`` on chunks of ``rows`` in the caller's transaction; return all rows."""
    returned: list[Row] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        returned += await fetch(conn, build(len(chunk)), _flat(chunk))
    return returned


def _flat(rows: Sequence[Row]) -> list[Any]:
    return [value for row in rows for value in row]


async def run_to_end(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` to its end even if the caller is cancelled meanwhile, then re-raise
    the cancellation: for clean-up that must not be cut short (rolling back, giving tasks back)."""
    future: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # mark it retrieved: the cancellation is what the caller sees
        raise asyncio.CancelledError
    result: T = future.result()
    return result


def _open_and_close(uri: str) -> None:
    sqlite3.connect(uri, uri=True).close()


def file_uri(path: Path, mode: str) -> str:
    """The ``file:`` URI of ``path`` in ``mode`` (``rw``: never create the file; ``rwc``).

    Every connection opens its file this way, so that the path is always a file name: a name
    holding ``?``, ``#`` or ``%`` is percent-encoded, and a name that starts with ``file:`` is not
    read as a URI (SQLite builds that read plain names as URIs would).
    """
    return f"file:{quote(str(path.absolute()), safe='/')}?mode={mode}"
