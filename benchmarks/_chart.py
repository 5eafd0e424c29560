"""The PNG chart of a run (needs matplotlib; ``run.py --no-chart`` does without it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt

from _report import SystemResult

__all__ = ["write_chart"]


def write_chart(results: Sequence[SystemResult], path: Path, title: str) -> None:
    """Bar charts of drain throughput and of enqueue throughput (single and batch) per system."""
    names = [f"{r.name}\n(in-process)" if r.in_process else r.name for r in results]
    positions = list(range(len(names)))

    def medians(figure: str) -> list[float]:
        found = (r.median(figure) for r in results)
        return [math.nan if value is None else value for value in found]  # nan: no bar

    fig, (drain_ax, enqueue_ax) = plt.subplots(1, 2, figsize=(13, 5))
    colors = ["tab:gray" if r.in_process else "tab:blue" for r in results]
    bars = drain_ax.bar(positions, medians("drain"), color=colors)
    drain_ax.bar_label(bars, fmt="{:,.0f}")
    drain_ax.set_title("Drain, one worker process (tasks/s; gray: worker in-process)")
    enqueue_ax.bar([p - 0.2 for p in positions], medians("enqueue_single"), 0.4, label="one at a time")
    enqueue_ax.bar([p + 0.2 for p in positions], medians("enqueue_batch"), 0.4, label="batch")
    enqueue_ax.set_title("Enqueue (tasks/s, log scale; no bar: n/a)")
    enqueue_ax.set_yscale("log")
    enqueue_ax.legend()
    for ax in (drain_ax, enqueue_ax):
        ax.set_xticks(positions, names, rotation=20, ha="right")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
