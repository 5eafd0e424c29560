"""The task functions ``omniq demo`` runs (importable, so any worker process can run them too)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random

__all__ = ["broken", "checksum", "flaky_checksum"]


async def checksum(n: int) -> str:
    """Hash some bytes after a short pause, like a task waiting on I/O."""
    await asyncio.sleep(random.uniform(0, 0.01))  # noqa: S311 - simulated latency
    return hashlib.sha256(f"omniq-{n}".encode()).hexdigest()[:12]


def flaky_checksum(n: int, marker_dir: str) -> str:
    """Fail on the first attempt, succeed on the second: shows retries with backoff."""
    marker = os.path.join(marker_dir, f"flaky-{n}")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ConnectionError(f"upstream for item {n} not ready yet")
    return hashlib.sha256(f"omniq-{n}".encode()).hexdigest()[:12]


def broken(n: int) -> None:
    """Always fail: shows the dead-letter state."""
    raise ValueError(f"item {n} is malformed")
