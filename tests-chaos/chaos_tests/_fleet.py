"""Worker processes run as a user runs them (``omniq worker``), started, killed and stopped by a test.

Each worker's stderr goes to a file of its own, so that a failing test can show what the workers
said, and a worker that dies without being killed fails the test at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from omniq.core.app import AsyncOmniQ
from omniq.core.models import TaskStatus

__all__ = ["WorkerFleet", "drained", "wait_until"]

#: How long a test waits for something that should happen before it calls it a hang (not a bound).
HANG_GUARD = 240.0


class WorkerFleet:
    """``omniq worker`` processes on one store: started, SIGKILLed, signalled and stopped by a test.

    Args:
        url: the store's URL (``--url``).
        directory: where each worker's stderr is written (``worker-<pid>.log``).
        kind: the worker type (``-t``).
        concurrency: tasks each worker runs at once (``-c``).
        lease_ttl: seconds a claim lasts without a heartbeat (heartbeats every sixth of it).
        grace: seconds running tasks may finish after SIGTERM/SIGINT (``--grace``).
    """

    def __init__(
        self,
        url: str,
        directory: Path,
        *,
        kind: str = "async",
        concurrency: int = 4,
        lease_ttl: float = 3.0,
        grace: float = 30.0,
    ) -> None:
        self.url = url
        self.directory = directory
        self.kind = kind
        self.concurrency = concurrency
        self.lease_ttl = lease_ttl
        self.grace = grace
        self.workers: list[subprocess.Popen[bytes]] = []
        self.started_at: dict[int, float] = {}
        #: Pids of the workers this fleet SIGKILLed, in order.
        self.killed: list[int] = []
        #: Pids of the processes the killed workers had started (a process worker's fork server and
        #: children): they must not outlive their worker.
        self.orphans: set[int] = set()
        self._signalled: set[int] = set()

    def __enter__(self) -> WorkerFleet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` more workers."""
        command = [
            sys.executable, "-m", "omniq.core.cli", "worker", "--url", self.url,
            "-i", "omniq.core.testing", "-t", self.kind, "-c", str(self.concurrency),
            "--grace", str(self.grace),
        ]  # fmt: skip
        env = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "OMNIQ_LEASE_TTL": str(self.lease_ttl),
            # Six beats per lease: only a worker stalled for most of a lease loses it.
            "OMNIQ_HEARTBEAT_INTERVAL": str(self.lease_ttl / 6),
            "OMNIQ_POLL_INTERVAL": "0.05",
            "OMNIQ_LOG_LEVEL": "WARNING",
        }
        started = []
        for _ in range(count):
            log = self.directory / f"worker-{len(self.workers)}.log"
            with log.open("ab") as stderr:
                worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            log.rename(self.directory / f"worker-{worker.pid}.log")
            self.workers.append(worker)
            self.started_at[worker.pid] = time.monotonic()
            started.append(worker)
        return started

    @property
    def live(self) -> list[subprocess.Popen[bytes]]:
        """The workers not yet killed or stopped."""
        return [w for w in self.workers if w.pid not in self.killed and w.pid not in self._signalled]

    def kill_one(self, rng: random.Random, *, settled: float = 1.0) -> int:
        """SIGKILL a random live worker (one that has been up for ``settled`` seconds, if any has),
        reap it, and start a replacement; returns the killed pid."""
        now = time.monotonic()
        candidates = [w for w in self.live if now - self.started_at[w.pid] >= settled] or self.live
        victim = rng.choice(candidates)
        self.assert_alive()
        self.orphans |= _descendants(victim.pid)
        victim.kill()
        victim.wait()
        self.killed.append(victim.pid)
        self.start()
        return victim.pid

    def orphans_alive(self) -> set[int]:
        """The killed workers' descendants that still run (a zombie is not running)."""
        return {pid for pid in self.orphans if _state(pid) not in (None, "Z")}

    def signal(self, worker: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Send ``sig`` to one worker (it is then expected to exit by itself)."""
        self._signalled.add(worker.pid)
        worker.send_signal(sig)

    def assert_alive(self) -> None:
        """Fail if a worker that was neither killed nor signalled has exited."""
        for worker in self.live:
            code = worker.poll()
            assert code is None, f"worker {worker.pid} exited by itself ({code}): {self.log(worker.pid)}"

    def log(self, pid: int, lines: int = 30) -> str:
        """The end of a worker's stderr."""
        path = self.directory / f"worker-{pid}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self, lines: int = 10) -> str:
        """The end of every live worker's stderr, for failure messages."""
        return "\n".join(f"--- worker {w.pid}:\n{self.log(w.pid, lines)}" for w in self.live)

    def stop(self) -> None:
        """SIGTERM every worker still running and wait for it (SIGKILL after a minute)."""
        running = [w for w in self.workers if w.poll() is None]
        for worker in running:
            worker.send_signal(signal.SIGTERM)
        for worker in running:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from ``/proc``."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The name (in parentheses) may hold spaces: the fields after its last ")" are plain.
            fields = stat.read_text(encoding="utf-8", errors="replace").rpartition(")")[2].split()
        except OSError:  # the process is gone
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _state(pid: int) -> str | None:
    """The state letter of a process (``Z`` for a zombie), ``None`` if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()[0]


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, *, within: float = HANG_GUARD, every: float = 0.1
) -> None:
    """Wait until ``check()`` is true; fail after ``within`` seconds (a hang guard, not a bound).
    ``check`` may raise while a server is down: it is asked again."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while True:
        try:
            if await check():
                return
            last_error = None
        except AssertionError:
            raise
        except Exception as exc:  # a broker being restarted refuses calls for a while
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s (last error: {last_error!r})")
        await asyncio.sleep(every)


def drained(app: AsyncOmniQ, count: int, fleet: WorkerFleet | None = None) -> Callable[[], Awaitable[bool]]:
    """A check for :func:`wait_until`: at least ``count`` tasks completed (and the fleet's workers
    that were neither killed nor signalled are alive)."""

    async def check() -> bool:
        if fleet is not None:
            fleet.assert_alive()
        counts = await app.counts()
        return counts.get("default", {}).get(TaskStatus.COMPLETED.value, 0) >= count

    return check
