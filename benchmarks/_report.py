"""The Markdown report of a run: the table, the ratios, the settings and the machine."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from importlib import metadata

from _harness import BenchConfig, Figures

__all__ = ["SystemResult", "load_average", "machine_info", "markdown"]

#: Ratios worth reading, as (label, numerator system, denominator system, figure).
RATIOS = [
    ("OmniQ-SQLite drain / Huey drain", "omniq-sqlite", "huey-sqlite", "drain"),
    ("OmniQ-SQLite drain / raw loop drain", "omniq-sqlite", "raw-sqlite", "drain"),
    ("OmniQ-SQLite (sync noop) drain / Huey drain", "omniq-sqlite-sync", "huey-sqlite", "drain"),
    ("OmniQ-SQLite enqueue one at a time / Huey", "omniq-sqlite", "huey-sqlite", "enqueue_single"),
    ("OmniQ-SQLite enqueue one at a time / raw loop", "omniq-sqlite", "raw-sqlite", "enqueue_single"),
    ("OmniQ-SQLite enqueue_many / raw executemany", "omniq-sqlite", "raw-sqlite", "enqueue_batch"),
    ("Huey latency p50 / OmniQ-SQLite latency p50", "huey-sqlite", "omniq-sqlite", "latency_p50"),
    ("OmniQ-Postgres drain / PgQueuer drain", "omniq-postgres", "pgqueuer", "drain"),
    ("OmniQ-Postgres drain / Procrastinate drain", "omniq-postgres", "procrastinate", "drain"),
    ("OmniQ-Postgres drain / raw asyncpg loop drain", "omniq-postgres", "raw-postgres", "drain"),
    ("OmniQ-Postgres enqueue_many / raw executemany", "omniq-postgres", "raw-postgres", "enqueue_batch"),
    ("OmniQ-Postgres enqueue_many / PgQueuer batch", "omniq-postgres", "pgqueuer", "enqueue_batch"),
    ("PgQueuer latency p50 / OmniQ-Postgres latency p50", "pgqueuer", "omniq-postgres", "latency_p50"),
    ("OmniQ-Redis drain / Huey (Redis) drain", "omniq-redis", "huey-redis", "drain"),
    ("OmniQ-Redis drain / SAQ drain", "omniq-redis", "saq-redis", "drain"),
    ("OmniQ-Redis drain / arq drain", "omniq-redis", "arq-redis", "drain"),
    ("OmniQ-Redis drain / Taskiq drain", "omniq-redis", "taskiq-redis", "drain"),
    ("OmniQ-Redis drain / RQ drain", "omniq-redis", "rq-redis", "drain"),
    ("OmniQ-Redis drain / raw Redis loop drain", "omniq-redis", "raw-redis", "drain"),
    ("OmniQ-Redis enqueue one at a time / raw Redis loop", "omniq-redis", "raw-redis", "enqueue_single"),
    ("Huey (Redis) latency p50 / OmniQ-Redis latency p50", "huey-redis", "omniq-redis", "latency_p50"),
]

#: The Redis rows' packages, whose versions the report shows.
REDIS_DISTRIBUTIONS = ("omniq-redis", "redis", "saq", "arq", "taskiq", "taskiq-redis", "rq")

COLUMNS: list[tuple[str, str, Callable[[float], str]]] = [
    ("Enqueue, one at a time (tasks/s)", "enqueue_single", lambda v: f"{v:,.0f}"),
    ("Enqueue, batch (tasks/s)", "enqueue_batch", lambda v: f"{v:,.0f}"),
    ("Drain, 1 worker (tasks/s)", "drain", lambda v: f"{v:,.0f}"),
    ("Latency p50 (ms)", "latency_p50", lambda v: f"{v * 1000:.1f}"),
    ("Latency p99 (ms)", "latency_p99", lambda v: f"{v * 1000:.1f}"),
]


@dataclasses.dataclass
class SystemResult:
    """Every round's figures for one system, and the errors of rounds that failed."""

    name: str
    notes: str
    in_process: bool = False
    rounds: dict[int, Figures] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)

    def values(self, figure: str) -> list[float]:
        """The figure from every round that has it."""
        found = (getattr(r, figure) for r in self.rounds.values())
        return [v for v in found if v is not None]

    def by_round(self, figure: str) -> dict[int, float]:
        """The figure of each round that has it, by round number."""
        found = {n: getattr(r, figure) for n, r in self.rounds.items()}
        return {n: v for n, v in found.items() if v is not None}

    def median(self, figure: str) -> float | None:
        """The median across rounds, or ``None`` (no such operation, or every round failed)."""
        values = self.values(figure)
        return statistics.median(values) if values else None


def _cell(result: SystemResult, figure: str, show: Callable[[float], str]) -> str:
    values = result.values(figure)
    if not values:
        if result.errors and not result.rounds:
            return "failed"
        return "n/a"
    text = show(statistics.median(values))
    if len(values) > 1:
        text += f" ({show(min(values))} to {show(max(values))})"
    return text


def _ratio(top: SystemResult, bottom: SystemResult, figure: str) -> str:
    """The ratio within each round (the two systems ran minutes apart, not runs apart), then the
    median across rounds, with its range."""
    num, den = top.by_round(figure), bottom.by_round(figure)
    ratios = [num[n] / den[n] for n in sorted(num.keys() & den.keys()) if den[n] > 0]
    if not ratios:
        return "n/a"
    text = f"{statistics.median(ratios):.2f}x"
    if len(ratios) > 1:
        text += f" ({min(ratios):.2f}x to {max(ratios):.2f}x)"
    return text


def markdown(
    results: Sequence[SystemResult],
    config: BenchConfig,
    rounds: int,
    info: dict[str, str],
) -> str:
    """The whole report: table, notes, ratios, settings and machine."""
    lines = [
        "# OmniQ benchmarks",
        "",
        f"{info['date']}: {config.tasks:,} tasks per drain and batch, {config.single_count:,} single "
        f"enqueues, {config.latency_tasks} latency samples {config.latency_interval * 1000:g} ms apart; "
        f"{rounds} round(s)" + (", median (min to max)" if rounds > 1 else "") + ".",
        "",
        "| System | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for result in results:
        cells = [_cell(result, figure, show) for _, figure, show in COLUMNS]
        lines.append(f"| {result.name} | " + " | ".join(cells) + " |")
    lines += ["", "Notes:", ""]
    lines += [f"- **{r.name}**: {r.notes}" for r in results]
    for result in results:
        lines += [f"- **{result.name}** failed: {error}" for error in result.errors]
    lines += ["", "## Ratios (measured side by side in this run)", ""]
    lines += ["| Ratio | Within each round: median (min to max) |", "|---|---:|"]
    by_name = {r.name: r for r in results}
    for label, top, bottom, figure in RATIOS:
        if top in by_name and bottom in by_name:
            lines.append(f"| {label} | {_ratio(by_name[top], by_name[bottom], figure)} |")
    lines += [
        "",
        "Every ratio reads the same way: above 1.00x, OmniQ does better (more tasks/s, or a shorter wait).",
        "",
        "## Settings and machine",
        "",
        f"- settings: tasks={config.tasks}, single={config.single_count}, "
        f"latency_tasks={config.latency_tasks}, latency_interval={config.latency_interval}, "
        f"poll_interval={config.poll_interval}, omniq_max_workers={config.omniq_max_workers}, "
        f"huey_workers={config.huey_workers}",
    ]
    lines += [f"- {key}: {value}" for key, value in info.items() if key != "date"]
    return "\n".join(lines) + "\n"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: above the CPU count, the figures are suspect."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine_info() -> dict[str, str]:
    """What a reader needs to judge the figures: the date, the machine, the versions."""

    def version(distribution: str) -> str:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPUs": str(os.cpu_count()),
        "platform": platform.platform(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "omniq-core": version("omniq-core"),
        "omniq-sqlite": version("omniq-sqlite"),
        "huey": version("huey"),
        **{name: version(name) for name in REDIS_DISTRIBUTIONS},
        "load average at start (1, 5, 15 min)": load_average(),
    }
