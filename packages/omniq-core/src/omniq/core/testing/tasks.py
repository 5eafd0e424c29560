"""Task functions for the conformance suite; importable by worker processes as ``module:name``.

Side effects go to files (appends of one short line are atomic), so that tests can count runs
across processes.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import threading
import time
from pathlib import Path
from typing import Any

from omniq.core.callbacks import TaskOutcome
from omniq.core.context import current_task

__all__ = [
    "act_by_run",
    "add",
    "async_add",
    "async_sleep",
    "async_whoami",
    "die_until",
    "fail",
    "fail_until",
    "failing_callback",
    "huge_int_result",
    "noop",
    "raise_timeout_error",
    "record_attempt",
    "record_outcome",
    "record_run",
    "sleep_in_c",
    "sleep_in_steps",
    "sleep_noting_interruption",
    "slow_with_marker",
    "unencodable_result",
    "unpicklable_result",
    "wait_for_release",
    "whoami",
]

#: Where :func:`record_outcome` writes (an environment variable, so worker processes see it too).
CALLBACK_LOG = "OMNIQ_TEST_CALLBACK_LOG"


def noop() -> None:
    """Do nothing (benchmarks and throughput tests)."""


async def async_noop() -> None:
    """Do nothing, as a coroutine."""


def add(a: int, b: int) -> int:
    """Return ``a + b`` from a plain function."""
    return a + b


async def async_add(a: int, b: int) -> int:
    """Return ``a + b`` from a coroutine."""
    await asyncio.sleep(0)
    return a + b


def record_run(path: str, key: str) -> str:
    """Append ``key pid`` to ``path``: one line per execution."""
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{key} {os.getpid()}\n")
    return key


def record_attempt(path: str, key: str, seconds: float = 0.0) -> str:
    """Sleep ``seconds``, then append ``task_id attempt worker_id pid started_at`` to ``path`` and
    return ``key``: one line per execution that got to its side effect, saying which attempt ran
    in which worker (its id holds the worker process's pid; ``pid`` is the process that ran the
    function, a child on the process worker), so a crash test can tell why a task ran twice."""
    started = time.time()
    time.sleep(seconds)
    context = current_task()
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{context.task_id} {context.attempt} {context.worker_id} {os.getpid()} {started:.6f}\n")
    return key


def act_by_run(log: str, marker: str, acts: list[str]) -> int:
    """Do ``acts[n - 1]`` on the n-th run of this task (runs counted in ``log``) and return n:
    ``"hang"`` writes ``marker`` (this pid) and sleeps, in steps, for ten minutes; ``"fail"``
    raises ``RuntimeError``; ``"return"`` returns at once. Runs past the end of ``acts`` return."""
    runs = _count_run(log)
    act = acts[runs - 1] if runs <= len(acts) else "return"
    if act == "hang":
        _mark_started(marker)
        sleep_in_steps(600)
    elif act == "fail":
        raise RuntimeError(f"run {runs} fails")
    elif act != "return":
        raise ValueError(f"unknown act: {act!r}")
    return runs


def fail(message: str = "boom", kind: str = "ValueError") -> None:
    """Raise a builtin exception named ``kind``."""
    raise {"ValueError": ValueError, "KeyError": KeyError, "RuntimeError": RuntimeError}[kind](message)


class UnprintableError(Exception):
    """An exception whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("this exception has no text")


def fail_oddly(how: str) -> None:
    """Raise an exception that is hard to record: ``unprintable`` (its ``str()`` raises) or
    ``surrogate`` (its message holds a file name read with ``surrogateescape``)."""
    if how == "unprintable":
        raise UnprintableError("unprintable")
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    raise FileNotFoundError(f"no such file: {name}")


def fail_until(path: str, succeed_on: int) -> int:
    """Fail until this is run for the ``succeed_on``-th time (counted in ``path``)."""
    with open(path, "a+", encoding="utf-8") as log:
        log.write("x")
        log.seek(0)
        runs = len(log.read())
    if runs < succeed_on:
        raise RuntimeError(f"run {runs} fails")
    return runs


async def async_sleep(seconds: float) -> float:
    """Sleep without blocking the loop."""
    await asyncio.sleep(seconds)
    return seconds


def sleep_in_steps(seconds: float) -> float:
    """Sleep in short steps, as Python code that a thread interrupt can stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return seconds


def _mark_started(marker: str) -> None:
    """Write this process's pid to ``marker`` in one step (a temporary file renamed into place), so
    that a test seeing the file never reads it half written."""
    partial = Path(f"{marker}.{os.getpid()}.tmp")
    partial.write_text(str(os.getpid()), encoding="utf-8")
    partial.replace(marker)


def slow_with_marker(marker: str, seconds: float, log: str) -> str:
    """Write ``marker`` (this run has started), sleep, then log the completed run."""
    _mark_started(marker)
    sleep_in_steps(seconds)
    return record_run(log, "done")


def huge_int_result() -> int:
    """Return an integer too large for msgpack."""
    return 2**70


def raise_timeout_error(message: str = "the task's own timeout") -> None:
    """Raise the builtin ``TimeoutError`` (a task's own error, not OmniQ running out of time)."""
    raise TimeoutError(message)


def unencodable_result() -> Any:
    """Return a value msgspec cannot encode."""
    return object()


def whoami(fail_before: int = 1) -> list[Any]:
    """``[task_id, attempt, max_attempts]`` of the running attempt; fails on attempts before
    ``fail_before``."""
    context = current_task()
    if context.attempt < fail_before:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return [context.task_id, context.attempt, context.max_attempts]


async def async_whoami(fail_before: int = 1) -> list[Any]:
    """:func:`whoami` as a coroutine."""
    await asyncio.sleep(0)
    return whoami(fail_before)


def die_until(path: str, succeed_on: int, how: str = "exit") -> int:
    """End the process running this (``exit``: ``os._exit(1)``; ``kill``: SIGKILL to itself;
    ``segfault``: read address 0) until this is run for the ``succeed_on``-th time."""
    runs = _count_run(path)
    if runs >= succeed_on:
        return runs
    if how == "exit":
        os._exit(1)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segfault":
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        ctypes.string_at(0)
    raise ValueError(f"unknown way to die: {how!r}")


def _count_run(path: str) -> int:
    with open(path, "a+", encoding="utf-8") as log:
        log.write("x")
        log.seek(0)
        return len(log.read())


def sleep_in_c(seconds: float) -> float:
    """Sleep in one C call, which no exception raised into the thread can interrupt."""
    time.sleep(seconds)
    return seconds


def wait_for_release(marker: str, release: str) -> int:
    """Write ``marker`` (this run has started), wait until ``release`` exists, return the pid."""
    _mark_started(marker)
    while not Path(release).exists():
        time.sleep(0.01)
    return os.getpid()


def unpicklable_result() -> Any:
    """Return a value neither pickle nor msgpack can carry (a lock)."""
    return threading.Lock()


def record_outcome(outcome: TaskOutcome) -> None:
    """A callback: append ``kind task_id attempt`` to the file named by ``$OMNIQ_TEST_CALLBACK_LOG``."""
    with open(os.environ[CALLBACK_LOG], "a", encoding="utf-8") as log:
        log.write(f"{outcome.kind} {outcome.task_id} {outcome.attempt}\n")


def failing_callback(outcome: TaskOutcome) -> None:
    """A callback that always raises."""
    raise RuntimeError(f"callback for {outcome.task_id} fails")


def kill_own_process() -> None:
    """Kill the process running the task (SIGKILL), as a crash or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_noting_interruption(marker: str, note: str, seconds: float, cooperative: bool = False) -> float:
    """Write ``marker``, sleep in steps, and append the name of whatever interrupts the sleep to
    ``note``: the proof that a worker stopped the code rather than gave up waiting for it.

    ``cooperative`` sleeps with ``gevent.sleep`` (which yields to a gevent hub even in a process
    that is not monkey-patched) instead of ``time.sleep``.
    """
    pause = time.sleep
    if cooperative:
        import gevent  # noqa: PLC0415 - only this variant needs gevent

        pause = gevent.sleep
    _mark_started(marker)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            pause(0.01)
    except BaseException as exc:
        with open(note, "a", encoding="utf-8") as log:
            log.write(f"{type(exc).__name__}\n")
        raise
    return seconds


def raise_system_exit() -> None:
    """Call ``sys.exit``, as a script turned into a task might."""
    raise SystemExit(3)


async def async_raise_system_exit() -> None:
    """:func:`raise_system_exit` as a coroutine."""
    raise SystemExit(3)


def sum_of_dependencies(url: str) -> int:
    """The sum of the values of the tasks this one depended on, read from their results at ``url``."""
    from omniq.core.sync import OmniQ  # noqa: PLC0415 - only this task needs the facade

    with OmniQ(url) as oq:
        results = [oq.get_result(task_id) for task_id in current_task().depends_on]
    return sum(result.value for result in results if result is not None)
