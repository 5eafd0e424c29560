"""Bytes Redis keeps per finished task: drain no-op tasks through a real worker, then add up
``MEMORY USAGE`` of every key under the run's prefix, by kind of key.

    python benchmarks/redis_memory.py --tasks 20000 [--url redis://127.0.0.1:6379/15]

Default settings (results and events stored), default prefix length (five characters, as
``omniq``). Without ``--url`` the script starts a ``redis-server`` of its own on a free port, so that
``INFO memory``'s ``used_memory`` delta counts only this run (on a shared server it is only a hint).
The per-key sum (``MEMORY USAGE ... SAMPLES 0``) leaves out the server's own tables (the expiry
table, hash buckets), which the ``used_memory`` delta includes. Keys are deleted at the end unless
``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis

from _harness import OMNIQ_SETTINGS
from omniq.core import AsyncOmniQ

NOOP = "omniq.core.testing.tasks:async_noop"

#: Key kinds in the order printed: (pattern after ``{prefix}:``, label).
KINDS = (
    (r"t:.*", "t:<id> (live task hash)"),
    (r"f:.*", "f:<id> (final task, packed)"),
    (r"r:.*", "r:<id> (result)"),
    (r"events", "events (stream)"),
    (r"ev:at", "ev:at (events by time)"),
    (r"ev:t:.*", "ev:t:<id> (events per task)"),
    (r"ev:task:.*", "ev:task:<hhh> (events by task)"),
    (r"s:.*", "s:<queue>:<status>"),
    (r"rx", "rx (result expiries)"),
    (r"dep:.*|deps|deps:final", "dep:<id>, deps, deps:final"),
)


def kind_of(name: str) -> str:
    """The label of a key name without its ``{prefix}:``."""
    for pattern, label in KINDS:
        if re.fullmatch(pattern, name):
            return label
    return name.split(":", 1)[0] + " (other)"


async def drain(url: str, tasks: int, max_workers: int) -> None:
    """Enqueue ``tasks`` no-ops and run an asyncio worker until every one has been settled."""
    async with AsyncOmniQ(url, **OMNIQ_SETTINGS) as app:
        for start in range(0, tasks, 5000):
            await app.enqueue_many(NOOP, [{}] * min(5000, tasks - start))
        await app.start_worker("async", max_workers=max_workers)
        worker = app._worker
        assert worker is not None
        while worker.completed_count < tasks:  # noqa: ASYNC110 - a worker offers no completion event
            await asyncio.sleep(0.05)
        await app.stop_worker()


async def usage(client: Any, prefix: str) -> dict[str, tuple[int, int]]:
    """(keys, bytes) per kind of key under ``{prefix}:``."""
    pattern = "\\{" + prefix + "\\}:*"
    head = len(prefix) + 3
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    async for key in client.scan_iter(match=pattern, count=1000):
        size = await client.memory_usage(key, samples=0) or 0
        entry = found[kind_of(key.decode()[head:])]
        entry[0] += 1
        entry[1] += size
    return {label: (keys, size) for label, (keys, size) in found.items()}


async def delete_prefix(client: Any, prefix: str) -> None:
    """Delete every key under ``{prefix}:``."""
    batch = [key async for key in client.scan_iter(match="\\{" + prefix + "\\}:*", count=1000)]
    for start in range(0, len(batch), 1000):
        await client.delete(*batch[start : start + 1000])


@contextmanager
def own_server() -> Iterator[str]:
    """A ``redis-server`` of this run's own on a free loopback port (nothing saved to disk)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            directory,
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not _answers(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def main(args: argparse.Namespace) -> None:
    if args.url is None:
        if shutil.which("redis-server") is None:
            raise SystemExit("no redis-server on PATH: give --url")
        with own_server() as url:
            await measure(args, url)
    else:
        await measure(args, args.url)


async def measure(args: argparse.Namespace, url: str) -> None:
    """Drain under a fresh prefix of ``url`` and print the table."""
    prefix = args.prefix or f"m{uuid.uuid4().hex[:4]}"  # as long as the default prefix, omniq
    separator = "&" if "?" in url else "?"
    client: Any = aioredis.Redis.from_url(url)
    try:
        before = (await client.info("memory"))["used_memory"]
        options = f"prefix={prefix}" + (f"&events_maxlen={args.events_maxlen}" if args.events_maxlen else "")
        await drain(f"{url}{separator}{options}", args.tasks, args.max_workers)
        after = (await client.info("memory"))["used_memory"]
        kinds = await usage(client, prefix)
        stream = f"{{{prefix}}}:events"
        lengths = (await client.xlen(stream), await client.zcard(f"{{{prefix}}}:ev:at"))
        if not args.keep:
            await delete_prefix(client, prefix)
    finally:
        await client.aclose()
    total = sum(size for _, size in kinds.values())
    print(f"{args.tasks} finished tasks, prefix {prefix}")
    print(f"{'key kind':34} {'keys':>8} {'bytes':>12} {'B/task':>8}")
    for label, (keys, size) in sorted(kinds.items(), key=lambda item: -item[1][1]):
        print(f"{label:34} {keys:>8} {size:>12} {size / args.tasks:>8.1f}")
    print(f"{'total (MEMORY USAGE)':34} {'':>8} {total:>12} {total / args.tasks:>8.1f}")
    label = "used_memory delta" + (" (shared server)" if args.url else "")
    print(f"{label:34} {'':>8} {after - before:>12} {(after - before) / args.tasks:>8.1f}")
    print(f"stream entries {lengths[0]}, ev:at entries {lengths[1]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--url", help="an existing server (default: start one)")
    parser.add_argument("--max-workers", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the keys (to look at them)")
    parser.add_argument("--events-maxlen", type=int, help="the backend's events_maxlen (default: its own)")
    parser.add_argument("--prefix", help="the key prefix (default: five random characters)")
    asyncio.run(main(parser.parse_args()))
