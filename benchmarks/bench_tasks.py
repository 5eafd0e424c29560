"""Task functions the benchmarked systems run, importable by name in every worker process.

The latency tasks append ``key start-time`` to a file: a line shorter than the pipe buffer is written
by one ``write`` call, so lines from concurrent tasks never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RAW_TASKS", "async_record_start", "noop", "record_start"]


def noop() -> None:
    """Do nothing (the drain phase of Huey and the raw loop)."""


def record_start(path: str, key: int) -> None:
    """Append ``key`` and the time this call started to ``path``."""
    started = time.time()
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{key} {started!r}\n")


async def async_record_start(path: str, key: int) -> None:
    """:func:`record_start` as a coroutine, for OmniQ's asyncio worker (the append does not block)."""
    record_start(path, key)


#: The functions the raw SQLite loop runs, by the name stored in its payload.
RAW_TASKS: dict[str, Callable[..., None]] = {"noop": noop, "record_start": record_start}
