"""What every benchmarked system shares: the settings, the figures, deadlines, worker processes.

A worker process (``python benchmarks/_workers.py <system> ...``) speaks a line protocol on its
standard streams: it prints ``ready`` once it is imported and connected, waits for ``go`` on stdin,
then serves and prints ``done <n>`` once it has completed its target number of tasks. The parent's
clock runs from ``go`` to ``done``, so interpreter start-up and imports are never timed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self, TypeVar

__all__ = [
    "OMNIQ_SETTINGS",
    "WORKERS_SCRIPT",
    "BenchConfig",
    "Deadline",
    "DoneReporter",
    "Figures",
    "PhaseTimeout",
    "System",
    "WorkerProcess",
    "apaced",
    "aserve_protocol",
    "latencies_from_log",
    "paced",
    "percentile",
    "run_async",
    "serve_protocol",
]

#: Settings of every OmniQ application that runs a worker here. The benchmark's no-op tasks are
#: ``omniq.core.testing.tasks`` functions: a module of an installed distribution (omniq-core), which a
#: worker runs only when its package is named as a task module (see omniq.core.function_policy).
OMNIQ_SETTINGS: dict[str, Any] = {"task_modules": ["omniq.core.testing"]}

T = TypeVar("T")

WORKERS_SCRIPT = Path(__file__).with_name("_workers.py")


class PhaseTimeout(RuntimeError):
    """A phase ran past its deadline (a hang, or a machine far slower than expected)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What one run measures; every system gets the same numbers."""

    tasks: int = 10_000
    single: int = 2_000
    latency_tasks: int = 200
    latency_interval: float = 0.02
    poll_interval: float = 0.005
    omniq_max_workers: int = 500
    huey_workers: int = 1
    phase_timeout: float = 300.0

    @property
    def single_count(self) -> int:
        """How many tasks the one-at-a-time enqueue phase queues."""
        return min(self.single, self.tasks)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figures:
    """One system's figures from one round: throughputs in tasks per second, latencies in seconds;
    ``None`` where the system has no such operation."""

    enqueue_single: float
    enqueue_batch: float | None
    drain: float
    latency_p50: float | None
    latency_p99: float | None


class System(Protocol):
    """A queue system under test: each phase starts from an empty store under ``workdir``."""

    name: str
    notes: str
    #: Whether the worker runs in the benchmark's own process (not comparable with the others).
    in_process: bool

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        """Seconds to enqueue ``config.single_count`` tasks one call at a time."""

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float | None:
        """Seconds to enqueue ``config.tasks`` tasks in bulk; ``None`` if the system cannot."""

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        """Seconds for one worker to complete ``config.tasks`` queued no-op tasks."""

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        """Seconds from enqueue to start for ``config.latency_tasks`` tasks fed to an idle worker."""


class Deadline:
    """A point in time after which a phase gives up with :class:`PhaseTimeout`."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises once none are."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise PhaseTimeout(f"{self.what}: no result within {self.seconds:g} s")
        return left

    def check(self) -> None:
        """Raise if the deadline has passed."""
        self.remaining()


def paced(count: int, interval: float, deadline: Deadline) -> Iterator[int]:
    """Yield ``0 .. count-1``, step ``i`` no earlier than ``i * interval`` after the first."""
    start = time.monotonic()
    for step in range(count):
        delay = start + step * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        deadline.check()
        yield step


async def apaced(count: int, interval: float, deadline: Deadline) -> AsyncIterator[int]:
    """:func:`paced` for a coroutine: sleeps without blocking the event loop."""
    start = time.monotonic()
    for step in range(count):
        delay = start + step * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        deadline.check()
        yield step


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latencies_from_log(path: Path, enqueued_at: dict[int, float]) -> list[float]:
    """Start minus enqueue time for each ``key start`` line of a log written by the latency tasks."""
    started: dict[int, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        started.setdefault(int(key), float(value))
    missing = set(enqueued_at) - set(started)
    if missing:
        raise RuntimeError(f"{len(missing)} latency tasks never started (e.g. key {min(missing)})")
    return [started[key] - enqueued_at[key] for key in sorted(enqueued_at)]


def run_async(coro: Coroutine[Any, Any, T], seconds: float, what: str) -> T:
    """Run ``coro`` in a fresh event loop, raising :class:`PhaseTimeout` after ``seconds``."""

    async def bounded() -> T:
        try:
            async with asyncio.timeout(seconds):
                return await coro
        except TimeoutError:
            raise PhaseTimeout(f"{what}: no result within {seconds:g} s") from None

    return asyncio.run(bounded())


class WorkerProcess:
    """A worker in its own OS process, driven by the ready/go/done protocol; always reaped on exit.

    Args:
        system: the first argument of ``_workers.py``.
        args: the system's own arguments.
        log_dir: where the worker's stderr goes (shown when it fails).
    """

    def __init__(self, system: str, args: Sequence[str], log_dir: Path) -> None:
        self.system = system
        self.log_path = log_dir / f"{system}-worker.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKERS_SCRIPT), system, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def expect(self, word: str, deadline: Deadline) -> str:
        """Wait for the next line, which must start with ``word``; returns it."""
        try:
            line = self._lines.get(timeout=deadline.remaining())
        except queue.Empty:
            raise PhaseTimeout(
                f"{deadline.what}: the {self.system} worker did not say {word!r} within "
                f"{deadline.seconds:g} s (worker log below)\n{self._log_tail()}"
            ) from None
        if line is None or not line.startswith(word):
            raise RuntimeError(
                f"{self.system} worker said {line!r} instead of {word!r} "
                f"(exit code {self.process.poll()}; worker log below)\n{self._log_tail()}"
            )
        return line

    def release(self) -> None:
        """Tell the waiting worker to start serving."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._log.close()

    def _log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_protocol(serve: Callable[[], None]) -> None:
    """The worker side of the protocol: say ``ready``, wait for ``go``, then call ``serve``."""
    if _await_go():
        serve()


async def aserve_protocol(serve: Callable[[], Awaitable[None]]) -> None:
    """:func:`serve_protocol` inside an event loop (the loop keeps its connections open)."""
    if await asyncio.to_thread(_await_go):
        await serve()


def _await_go() -> bool:
    """Say ``ready`` and wait for ``go``. Once released, the worker exits as soon as its parent
    goes away (stdin reaches end of file), so an interrupted benchmark leaves no process behind."""
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return False

    def exit_with_parent() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    return True


class DoneReporter:
    """Counts completed tasks (from any thread) and prints ``done <n>`` when ``target`` is reached."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self._lock = threading.Lock()

    def completed(self, n: int = 1) -> None:
        """Count ``n`` more completed tasks."""
        with self._lock:
            self._reach(self.count + n)

    def reached(self, total: int) -> None:
        """Record that ``total`` tasks have completed so far."""
        with self._lock:
            self._reach(total)

    def _reach(self, total: int) -> None:
        before, self.count = self.count, total
        if before < self.target <= total:
            print(f"done {total}", flush=True)
