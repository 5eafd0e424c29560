"""Wake-ups between processes: an idle worker is woken by a socket, not by reading the database
200 times a second."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq.core.records import TaskRecord
from omniq.sqlite import SQLiteBackend, _database
from omniq.sqlite._wakeup import WakeChannel

TaskFactory = Callable[..., TaskRecord]  # the make_task fixture


def _count_version_reads(backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    database = backend._db
    read = database.data_version

    def counted() -> int | None:
        reads.append(1)
        return read()

    monkeypatch.setattr(database, "data_version", counted)
    return reads


async def test_an_idle_wait_for_tasks_reads_the_data_version_only_now_and_then(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_version_reads(backend, monkeypatch)
    waited = 0.5
    await backend.wait_for_tasks(["default"], waited)
    # A read at the start and one per peer poll; polling every 5 ms, it was about 100.
    assert len(reads) <= 2 + waited / _database.PEER_POLL_INTERVAL


async def test_an_enqueue_in_another_process_wakes_a_waiting_worker(
    backend: SQLiteBackend, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_database, "PEER_POLL_INTERVAL", 3600.0)  # only the socket can wake it
    producer = textwrap.dedent(
        f"""\
        import asyncio
        from omniq.core.testing._support import make_record
        from omniq.sqlite import SQLiteBackend

        async def main():
            async with SQLiteBackend({str(db_path)!r}) as backend:
                await backend.enqueue([make_record()])

        asyncio.run(main())
        """
    )
    waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", producer], check=True, timeout=60)
    await asyncio.wait_for(waiting, 60)  # a hang guard: the wait itself is an hour


async def test_without_a_wake_up_socket_waiters_read_the_data_version_as_before(
    backend: SQLiteBackend, db_path: Path, make_task: TaskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WakeChannel, "listen", lambda self: None)
    monkeypatch.setattr(_database, "PEER_POLL_INTERVAL", 3600.0)
    async with SQLiteBackend(db_path) as producer:
        waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
        await asyncio.sleep(0.05)
        await producer.enqueue([make_task()])
        await asyncio.wait_for(waiting, 60)


def test_the_socket_of_a_process_gone_is_removed_by_the_next_wake_up(db_path: Path) -> None:
    channel = WakeChannel(db_path)
    assert channel.listen() is not None
    stale = channel.directory / "0-deadbeef"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(str(stale))
    left.close()  # bound, then closed without unlinking: what a killed process leaves
    WakeChannel(db_path).notify()
    assert not stale.exists()
    channel.close()
    assert not channel.directory.exists()  # the last socket gone, its directory goes too
