"""Measure OmniQ against its peers and the raw engine, side by side in one run.

    python benchmarks/run.py [--tasks 10000] [--only sqlite,memory,huey,raw-sqlite] [--out benchmarks/results]

For each system: enqueue throughput one at a time and in batch, drain throughput with one worker
process, and enqueue-to-start latency (p50/p99). Prints a Markdown table and writes
``<out>/latest.md`` and ``<out>/latest.png``. See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from _harness import BenchConfig, Figures, System, percentile
from _omniq_systems import OmniQMemory, OmniQSqlite
from _raw_system import RawSqlite
from _redis_registry import REDIS_SYSTEMS, build_redis
from _report import SystemResult, load_average, machine_info, markdown

#: ``--only`` names, in table order.
SYSTEMS = (
    "memory",
    "sqlite",
    "sqlite-sync",
    "huey",
    "raw-sqlite",
    "postgres",
    "pgqueuer",
    "procrastinate",
    "raw-postgres",
    *REDIS_SYSTEMS,
)


def build(key: str, config: BenchConfig) -> System:
    """The system called ``key``."""
    if key in REDIS_SYSTEMS:
        return build_redis(key, config)
    if key == "huey":
        # Imported here: Huey is optional, and only this system needs it.
        from _huey_system import HueySqlite  # noqa: PLC0415

        return HueySqlite(config)
    if key == "raw-sqlite":
        return RawSqlite()
    if key in ("postgres", "raw-postgres", "pgqueuer", "procrastinate"):
        return _postgres_system(key, config)
    if key == "memory":
        return OmniQMemory(config)
    return OmniQSqlite(config, "sync" if key == "sqlite-sync" else "async")


def _postgres_system(key: str, config: BenchConfig) -> System:
    """A PostgreSQL system; imported on use, as its drivers and peers are optional."""
    from _pg_systems import OmniQPostgres, RawPostgres  # noqa: PLC0415

    if key == "postgres":
        return OmniQPostgres(config)
    if key == "raw-postgres":
        return RawPostgres()
    from _pg_peers import PgQueuerSystem, ProcrastinateSystem  # noqa: PLC0415

    return PgQueuerSystem(config) if key == "pgqueuer" else ProcrastinateSystem(config)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=defaults.tasks, help="tasks per drain and batch enqueue")
    parser.add_argument(
        "--single", type=int, default=defaults.single, help="one-at-a-time enqueues (at most --tasks)"
    )
    parser.add_argument("--latency-tasks", type=int, default=defaults.latency_tasks)
    parser.add_argument("--latency-interval", type=float, default=defaults.latency_interval, help="seconds")
    parser.add_argument(
        "--only",
        default=",".join(SYSTEMS),
        help=f"comma-separated systems, from {','.join(SYSTEMS)} (default: all)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the table shows medians")
    parser.add_argument("--omniq-max-workers", type=int, default=defaults.omniq_max_workers)
    parser.add_argument("--huey-workers", type=int, default=defaults.huey_workers)
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=defaults.poll_interval,
        help="idle poll interval of Huey and the raw loop, seconds (OmniQ-SQLite polls every 5 ms)",
    )
    parser.add_argument("--phase-timeout", type=float, default=defaults.phase_timeout, help="seconds")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib needed)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only.split(",")) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    if args.tasks < 1 or args.repeat < 1 or args.latency_tasks < 1:
        parser.error("--tasks, --repeat and --latency-tasks must be at least 1")
    return args


def measure(system: System, config: BenchConfig, workdir: Path) -> Figures:
    """Every phase of one system, each on a fresh store in its own directory."""

    def phase_dir(name: str) -> Path:
        path = workdir / name
        path.mkdir()
        return path

    single = system.enqueue_single(config, phase_dir("single"))
    _progress(f"{system.name}: enqueue one at a time {config.single_count / single:,.0f} tasks/s")
    batch = system.enqueue_batch(config, phase_dir("batch"))
    if batch is not None:
        _progress(f"{system.name}: enqueue batch {config.tasks / batch:,.0f} tasks/s")
    drain = system.drain(config, phase_dir("drain"))
    _progress(f"{system.name}: drain {config.tasks / drain:,.0f} tasks/s")
    latencies = system.latency(config, phase_dir("latency"))
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    _progress(f"{system.name}: latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    return Figures(
        enqueue_single=config.single_count / single,
        enqueue_batch=None if batch is None else config.tasks / batch,
        drain=config.tasks / drain,
        latency_p50=p50,
        latency_p99=p99,
    )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(config: BenchConfig, keys: Sequence[str], rounds: int) -> list[SystemResult]:
    """Every round of every system. Each round starts with the next system (rotating), so that no
    system always runs first or last on a machine whose load drifts."""
    systems = [build(key, config) for key in keys]
    results = [SystemResult(system.name, system.notes, system.in_process) for system in systems]
    for round_no in range(rounds):
        start = round_no % len(systems)
        for index in [*range(start, len(systems)), *range(start)]:
            system, result = systems[index], results[index]
            _progress(f"[round {round_no + 1}/{rounds}] {system.name}")
            with tempfile.TemporaryDirectory(prefix=f"omniq-bench-{keys[index]}-") as workdir:
                try:
                    result.rounds[round_no] = measure(system, config, Path(workdir))
                except Exception as exc:
                    traceback.print_exc()
                    result.errors.append(f"round {round_no + 1}: {type(exc).__name__}: {exc}".splitlines()[0])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 if any system failed)."""
    args = parse_args(argv)
    config = BenchConfig(
        tasks=args.tasks,
        single=args.single,
        latency_tasks=args.latency_tasks,
        latency_interval=args.latency_interval,
        poll_interval=args.poll_interval,
        omniq_max_workers=args.omniq_max_workers,
        huey_workers=args.huey_workers,
        phase_timeout=args.phase_timeout,
    )
    keys = [key for key in SYSTEMS if key in args.only.split(",")]
    info = machine_info()
    results = run(config, keys, args.repeat)
    info["load average at end"] = load_average()
    report = markdown(results, config, args.repeat, info)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(report, encoding="utf-8")
    if not args.no_chart:
        from _chart import write_chart  # noqa: PLC0415 - matplotlib is needed only here

        title = f"OmniQ benchmarks, {config.tasks:,} tasks, {info['date']}"
        write_chart(results, args.out / "latest.png", title)
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
