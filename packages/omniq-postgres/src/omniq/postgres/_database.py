"""The asyncpg pool of one backend: connecting with a clear error, migrating, surviving drops.

A connection the server terminates is discarded by the pool (asyncpg replaces a closed connection
on the next acquire), so the call that met the drop fails once and the worker's retry runs on a
fresh connection. Connections carry no session state (no ``SET``, no ``LISTEN``, only
transaction-level advisory locks), so returning one to the pool costs no reset round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import asyncpg

from omniq.core.errors import ConfigurationError, StoreNotFoundError
from omniq.postgres._schema import check_version, has_schema, migrate
from omniq.postgres._url import PostgresOptions, PostgresTarget

__all__ = ["Database", "connect_error", "run_to_end"]

T = TypeVar("T")

logger = logging.getLogger("omniq.postgres")

#: Server settings of OmniQ's connections unless the URI sets them: JIT compilation costs tens of
#: milliseconds per statement and is triggered by the large estimates of big ``unnest`` batches.
DEFAULT_SERVER_SETTINGS = {"application_name": "omniq", "jit": "off"}

#: What a failed connection attempt raises (asyncpg's errors, refused or unreachable sockets).
CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def connect_error(target: PostgresTarget, exc: BaseException) -> ConfigurationError:
    """One readable error for a failed connection: server, database and URI (password masked)."""
    reason = str(exc).strip() or type(exc).__name__
    return ConfigurationError(
        f"cannot connect to PostgreSQL at {target.host}:{target.port}, database {target.database!r} "
        f"({target.shown}): {reason}"
    )


async def _keep_session(connection: Any) -> None:
    """The pool's reset: nothing to undo (asyncpg still rolls back an open transaction first)."""
    del connection


class Database:
    """The pool of one backend object, opened and closed idempotently."""

    def __init__(self, target: PostgresTarget, options: PostgresOptions) -> None:
        self.target = target
        self.options = options
        self._pool: Any = None
        self._lock: asyncio.Lock | None = None

    @property
    def pool(self) -> Any:
        """The open ``asyncpg.Pool``."""
        if self._pool is None:
            raise RuntimeError(
                f"the PostgreSQL backend for {self.target.shown} is not open: call `await backend.open()` "
                "or use `async with backend:`"
            )
        return self._pool

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect`` / ``create_pool`` (the listener uses them too)."""
        return {
            "dsn": self.target.dsn,
            "timeout": self.options.connect_timeout,
            "server_settings": dict(DEFAULT_SERVER_SETTINGS),
        }

    async def connect(self) -> Any:
        """A new connection outside the pool; errors as :func:`connect_error`."""
        try:
            return await asyncpg.connect(**self._merged_kwargs())
        except CONNECT_ERRORS as exc:
            raise connect_error(self.target, exc) from exc

    def _merged_kwargs(self) -> dict[str, Any]:
        kwargs = self.connect_kwargs()
        # A setting given in the URI's query string wins over OmniQ's default (asyncpg would let the
        # keyword argument win).
        for key in self.target.query_keys:
            kwargs["server_settings"].pop(key, None)
        return kwargs

    async def open(self, *, existing: bool = False) -> None:
        """Create the pool and bring the schema up to date (idempotent).

        With ``existing``, refuse a database without OmniQ's schema instead of creating it.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is not None:
                return
            try:
                pool = await asyncpg.create_pool(
                    **self._merged_kwargs(),
                    min_size=self.options.pool_min_size,
                    max_size=self.options.pool_max_size,
                    reset=_keep_session,
                )
            except CONNECT_ERRORS as exc:
                raise connect_error(self.target, exc) from exc
            try:
                async with pool.acquire() as conn:
                    where = f"database {self.target.database!r} at {self.target.host}:{self.target.port}"
                    if existing and not await has_schema(conn, self.options.schema):
                        raise StoreNotFoundError(
                            f"there is no OmniQ schema {self.options.schema!r} in {where} "
                            f"({self.target.shown}); enqueueing a task or starting a worker creates it"
                        )
                    if existing:  # a read-only command: never DDL, which may rewrite a large table
                        await check_version(conn, self.options.schema, where)
                    else:
                        await migrate(conn, self.options.schema, where)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool

    async def close(self) -> None:
        """Close the pool (idempotent); connections in use are closed when released."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except (TimeoutError, *CONNECT_ERRORS):
                pool.terminate()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A connection inside a transaction: committed when the block ends, rolled back if it raises."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn


async def run_to_end(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` to its end even if the caller is cancelled meanwhile, then re-raise the
    cancellation: for clean-up that must not be cut short (giving claimed tasks back)."""
    future: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller sees
        raise asyncio.CancelledError
    return future.result()
