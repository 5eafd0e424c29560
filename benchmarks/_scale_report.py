"""The Markdown report of ``scale.py``: the table, the done-when criteria, notes and machine."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence

from _scale_cases import Case, CaseFigures, ScaleConfig
from _scale_stores import Store

__all__ = ["CRITERIA", "EngineResult", "Verdict", "criteria_verdicts", "markdown"]


@dataclasses.dataclass
class EngineResult:
    """Every round's figures of every case on one engine, the errors, and the fill check."""

    store: type[Store]
    #: ``{case key: {round: figures}}``.
    rounds: dict[str, dict[int, CaseFigures]] = dataclasses.field(default_factory=dict)
    #: ``{case key: errors}``; the key ``""`` holds the engine's own (its fill check).
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: What the history fill check found: ``None`` if not run, else the differences (empty: none).
    fill_check: list[str] | None = None

    def ratios(self, key: str) -> list[float]:
        """The case's drain rate over the baseline's, within each round both have."""
        case, base = self.rounds.get(key, {}), self.rounds.get("baseline", {})
        return [
            case[n].tasks_per_second / base[n].tasks_per_second for n in sorted(case.keys() & base.keys())
        ]

    def values(self, key: str, figure: Callable[[CaseFigures], float | None]) -> list[float]:
        """A figure of the case from every round that has it."""
        found = (figure(f) for f in self.rounds.get(key, {}).values())
        return [v for v in found if v is not None]


@dataclasses.dataclass(frozen=True)
class Criterion:
    """A done-when line of issue 23: the case's figure against a bound."""

    label: str
    case: str
    bound: float
    #: ``ratio`` (at least ``bound`` times the baseline) or ``bytes`` (at most ``bound`` bytes).
    figure: str
    engines: tuple[str, ...] | None = None


CRITERIA = (
    Criterion("drain with statistics >= 0.8x without", "statistics", 0.8, "ratio"),
    Criterion("drain beside 200k finished >= 0.7x a fresh store", "history-200k", 0.7, "ratio"),
    Criterion("drain beside 50k waiting tasks (edges) >= 0.7x none", "edges-50k", 0.7, "ratio"),
    Criterion("Redis: <= 1.5 KB (1,500 B) per finished task", "bytes", 1500.0, "bytes", ("redis",)),
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One criterion on one engine: ``passed`` is ``None`` where it does not apply or failed."""

    passed: bool | None
    text: str


def _spread(values: Sequence[float], show: Callable[[float], str]) -> str:
    text = show(statistics.median(values))
    if len(values) > 1:
        text += f" ({show(min(values))} to {show(max(values))})"
    return text


def _ratio(v: float) -> str:
    return f"{v:.2f}x"


def _rate(v: float) -> str:
    return f"{v:,.0f}/s"


def _bytes(v: float) -> str:
    return f"{v:,.0f} B"


def verdict(criterion: Criterion, result: EngineResult, cases: dict[str, Case]) -> Verdict:
    """How ``result`` fares against ``criterion`` (medians across rounds)."""
    case = cases.get(criterion.case)
    if case is None:
        return Verdict(None, "not run")
    if not case.applies_to(result.store):
        return Verdict(None, "n/a")
    if criterion.engines is not None and result.store.key not in criterion.engines:
        return Verdict(None, "n/a")
    if criterion.figure == "bytes":
        values = result.values(criterion.case, lambda f: f.bytes_per_task)
        if not values:
            return Verdict(None, "failed" if result.errors.get(criterion.case) else "not run")
        passed = statistics.median(values) <= criterion.bound
        return Verdict(passed, f"{'pass' if passed else 'FAIL'}: {_spread(values, _bytes)}")
    ratios = result.ratios(criterion.case)
    if not ratios:
        return Verdict(None, "failed" if result.errors.get(criterion.case) else "not run")
    passed = statistics.median(ratios) >= criterion.bound
    return Verdict(passed, f"{'pass' if passed else 'FAIL'}: {_spread(ratios, _ratio)}")


def criteria_verdicts(results: Sequence[EngineResult], cases: Sequence[Case]) -> list[list[Verdict]]:
    """Per criterion, the verdict of each engine."""
    by_key = {case.key: case for case in cases}
    return [[verdict(criterion, result, by_key) for result in results] for criterion in CRITERIA]


def _cell(result: EngineResult, case: Case) -> str:
    if not case.applies_to(result.store):
        return "n/a"
    rates = result.values(case.key, lambda f: f.tasks_per_second)
    if not rates:
        return "failed" if result.errors.get(case.key) else "not run"
    text = _spread(rates, _rate)
    if case.bytes:  # its drain empties a smaller queue: its rate is no ratio to the baseline's
        sizes = result.values(case.key, lambda f: f.bytes_per_task)
        return f"**{_spread(sizes, _bytes)}** per task · {text}"
    if case.key != "baseline" and (ratios := result.ratios(case.key)):
        text = f"**{_spread(ratios, _ratio)}** · {text}"
    return text


def markdown(
    results: Sequence[EngineResult],
    cases: Sequence[Case],
    config: ScaleConfig,
    rounds: int,
    info: dict[str, str],
) -> str:
    """The whole report."""
    lines = [
        "# OmniQ scale table",
        "",
        f"{info['date']}: for each engine and row, a fresh store is filled (untimed), then ONE worker "
        f"process (`run_worker('async', max_workers={config.concurrency})`, no-op `async_noop` tasks) "
        f"drains {config.drain:,} tasks, timed from go to done; {rounds} round(s)"
        + (", medians (min to max)" if rounds > 1 else "")
        + ". Each cell: the drain's rate divided by the same engine's baseline in the same round "
        "(bold; 1.00x = as fast as a fresh store), then the rate in tasks/s. The baseline is drained "
        "before and after the engine's other rows, and their mean is its rate.",
        "",
        "| Case | " + " | ".join(r.store.name for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for case in cases:
        lines.append(f"| {case.label} | " + " | ".join(_cell(r, case) for r in results) + " |")
    lines += ["", "## Done when (issue 23)", ""]
    lines += ["| Criterion | " + " | ".join(r.store.name for r in results) + " |"]
    lines += ["|---|" + "---:|" * len(results)]
    for criterion, verdicts in zip(CRITERIA, criteria_verdicts(results, cases), strict=True):
        lines.append(f"| {criterion.label} | " + " | ".join(v.text for v in verdicts) + " |")
    if config.scale != 1:
        lines += ["", f"Sizes are scaled by {config.scale:g}: the criteria hold for the full sizes only."]
    lines += ["", "## Notes", "", *_notes(results, config)]
    lines += ["", "## Settings and machine", ""]
    lines.append(
        f"- settings: drain={config.drain}, concurrency={config.concurrency}, pending={config.pending}, "
        f"scale={config.scale:g}, rounds={rounds}, phase_timeout={config.phase_timeout:g}"
    )
    lines += [f"- {key}: {value}" for key, value in info.items() if key != "date"]
    return "\n".join(lines) + "\n"


def _notes(results: Sequence[EngineResult], config: ScaleConfig) -> list[str]:
    lines = [
        "- **history**: completed tasks with their results and `enqueued`, `executing` and `completed` "
        "events, stored by the backend calls a worker makes (`enqueue_many`, `claim`, "
        "`finish_with_results`, `resolve_dependencies`, `append_events`) in batches of 5,000, without "
        "running the tasks; then the engine's upkeep (below).",
        "- **statistics**: planner statistics gathered after filling (`ANALYZE`); the baseline has none.",
        "- **dependencies**: two parents due in a day, then the waiting tasks that each depend on both, "
        "then the pending tasks.",
        f"- **bytes**: {config.drain:,} tasks of history are stored first (so that PostgreSQL reuses the "
        f"space its dead rows leave), the size is taken, {config.drain:,} tasks are enqueued and drained, "
        "and the size is taken again; the growth is divided by the tasks drained.",
    ]
    for result in results:
        store = result.store
        lines.append(f"- **{store.name}**: upkeep after filling a history: {store.upkeep_note}.")
        if not store.in_process:
            lines.append(f"- **{store.name}**: bytes: {store.bytes_note}.")
        if store.in_process:
            lines.append(f"- **{store.name}**: the worker runs in this process (its store lives here).")
        drains = [
            " and ".join(_rate(rate) for rate in figures.drains)
            for _, figures in sorted(result.rounds.get("baseline", {}).items())
        ]
        if drains:
            lines.append(
                f"- **{store.name}**: the baseline's drains before and after the other rows, by round "
                f"(their mean is the reference): {'; '.join(drains)}."
            )
        if result.fill_check is not None:
            found = "; ".join(result.fill_check) if result.fill_check else "the same"
            lines.append(
                f"- **{store.name}**: history fill checked against a worker process's drain of 200 tasks "
                f"(rows or keys per task, statuses, event types, fields): {found}."
            )
        for key, errors in result.errors.items():
            lines += [f"- **{store.name}** {key or 'fill check'} failed: {error}" for error in errors]
    return lines
