"""Drain speed beside many unresolved dependency edges, against the same store without them.

Each variant runs in its own OS process, which fills a fresh store (untimed) and then drains it with
one asyncio worker (``start_worker("async", max_workers=50)``): with edges, the store holds two
parent tasks due in a day, ``--edges`` waiting tasks that each depend on one of them, and
``--pending`` plain no-op tasks; without edges, the parents and the plain tasks only. The clock runs
from the worker's start until it has settled ``--drain`` tasks. Rounds alternate which variant runs
first; the report gives each round's ratio (with edges / without) per engine, side by side::

    .venv/bin/python benchmarks/dependency_edges.py                      # memory, sqlite, postgres
    .venv/bin/python benchmarks/dependency_edges.py --only sqlite --rounds 3

PostgreSQL uses ``OMNIQ_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
a fresh schema per variant (dropped afterwards), and runs ``ANALYZE`` on its tables after the fill,
as autovacuum would on a server that has it on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from _harness import OMNIQ_SETTINGS
from omniq.core import AsyncOmniQ

NOOP = "omniq.core.testing.tasks:async_noop"
POSTGRES_URL = os.environ.get("OMNIQ_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ("memory", "sqlite", "postgres")
#: Parents and waiting tasks are enqueued in batches of this many (one round trip each).
BATCH = 5_000


def _url(engine: str, workdir: Path, schema: str) -> str:
    if engine == "memory":
        return f"memory://edges-{schema}"
    if engine == "sqlite":
        return f"sqlite:///{workdir / f'{schema}.db'}"
    return f"{POSTGRES_URL}?schema={schema}"


async def _fill(app: AsyncOmniQ, edges: int, pending: int) -> None:
    parents = [await app.enqueue(NOOP, run_in=timedelta(days=1)) for _ in range(2)]
    for start in range(0, edges, BATCH):
        count = min(BATCH, edges - start)
        await app.enqueue_many(NOOP, [{}] * count, depends_on=[parents[(start // BATCH) % 2]])
    for start in range(0, pending, BATCH):
        await app.enqueue_many(NOOP, [{}] * min(BATCH, pending - start))


async def _analyze(url: str, schema: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the PostgreSQL variant needs it

    conn = await asyncpg.connect(url.partition("?")[0])
    try:
        for table in ("tasks", "dependencies", "results", "events"):
            await conn.execute(f'ANALYZE "{schema}".{table}')
    finally:
        await conn.close()


async def _drop(url: str, schema: str) -> None:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(url.partition("?")[0])
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _variant(engine: str, edges: int, pending: int, drain: int, workdir: Path) -> float:
    """Tasks per second of one drain, in this process."""
    schema = f"edges_{uuid.uuid4().hex[:12]}"
    url = _url(engine, workdir, schema)
    try:
        async with AsyncOmniQ(url) as app:  # closing it writes the fill's events, untimed
            await _fill(app, edges, pending)
        if engine == "postgres":
            await _analyze(url, schema)
        async with AsyncOmniQ(url, **OMNIQ_SETTINGS) as app:
            app.functions.resolve(NOOP)
            started = time.perf_counter()
            await app.start_worker("async", max_workers=50)
            worker = app._worker
            assert worker is not None
            while worker.completed_count < drain:  # noqa: ASYNC110 - a worker offers no completion event
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - started
            await app.stop_worker()
        return worker.completed_count / elapsed
    finally:
        if engine == "postgres":
            await _drop(url, schema)


def _child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        rate = asyncio.run(_variant(args.child, args.child_edges, args.pending, args.drain, Path(workdir)))
    print(f"{rate:.1f}")


def _run(engine: str, edges: int, args: argparse.Namespace) -> float:
    command = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--child-edges",
        str(edges),
        "--pending",
        str(args.pending),
        "--drain",
        str(args.drain),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=args.timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} with {edges} edges failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(ENGINES), help="engines, comma-separated")
    parser.add_argument("--edges", type=int, default=50_000, help="waiting tasks, one edge each")
    parser.add_argument("--pending", type=int, default=10_000, help="plain pending tasks")
    parser.add_argument("--drain", type=int, default=5_000, help="tasks drained per variant")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per variant")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--child-edges", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    engines = [engine for engine in args.only.split(",") if engine]
    print(
        f"{args.edges:,} edges (2 parents due in a day) beside {args.pending:,} pending; drain {args.drain:,}"
    )
    print("| engine | round | no edges (tasks/s) | with edges (tasks/s) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for engine in engines:
        ratios = []
        for round_ in range(1, args.rounds + 1):
            order = (0, args.edges) if round_ % 2 else (args.edges, 0)
            rates = {edges: _run(engine, edges, args) for edges in order}
            ratios.append(rates[args.edges] / rates[0])
            print(f"| {engine} | {round_} | {rates[0]:,.0f} | {rates[args.edges]:,.0f} | {ratios[-1]:.2f}x |")
        print(f"| {engine} | median | | | {statistics.median(ratios):.2f}x |", flush=True)


if __name__ == "__main__":
    main()
