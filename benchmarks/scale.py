"""How OmniQ's drain speed depends on what the store holds: a scale table per engine, in one run.

    python benchmarks/scale.py [--engines sqlite,postgres,redis] [--drain 5000] [--repeat 3]

For each engine, each row starts from a fresh store, fills it (untimed) and has ONE worker process
drain ``--drain`` no-op tasks: a fresh store with 10k pending (the baseline), backlogs of 100k and
500k pending, 10k pending beside 100k, 200k and 500k finished tasks, after ``ANALYZE``, beside 50k
waiting tasks on two parents, and the bytes a finished task takes. Each drain is divided by the
same engine's baseline in the same round. Prints a Markdown report and writes ``<out>/scale.md``.
See ``benchmarks/README.md`` ("Scale") for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from _report import load_average, machine_info
from _scale_cases import Case, ScaleConfig, build_cases, run_case
from _scale_fill import check_fill
from _scale_report import EngineResult, markdown
from _scale_stores import ENGINES, open_store, store_class

DEFAULT_ENGINES = ("sqlite", "postgres", "redis")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    defaults = ScaleConfig()
    case_keys = [case.key for case in build_cases(defaults)]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--engines",
        default=",".join(DEFAULT_ENGINES),
        help=f"comma-separated, from {','.join(ENGINES)} (default: {','.join(DEFAULT_ENGINES)})",
    )
    parser.add_argument("--drain", type=int, default=defaults.drain, help="tasks each drain completes")
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="the worker's max_workers"
    )
    parser.add_argument(
        "--pending",
        type=int,
        default=defaults.pending,
        help="pending tasks of the baseline and beside the rest",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=defaults.scale,
        help="multiplies the backlogs, histories and waiting tasks",
    )
    parser.add_argument(
        "--cases",
        default=",".join(case_keys),
        help=f"comma-separated rows, from {','.join(case_keys)} (the baseline always runs)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the table shows medians")
    parser.add_argument(
        "--phase-timeout", type=float, default=defaults.phase_timeout, help="seconds per step"
    )
    parser.add_argument("--no-fill-check", action="store_true", help="skip the history fill check")
    parser.add_argument("--note", default="", help="a line for the report, e.g. which code is measured")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    for option, known in (("engines", ENGINES), ("cases", case_keys)):
        unknown = sorted(set(getattr(args, option).split(",")) - set(known))
        if unknown:
            parser.error(f"unknown --{option} {', '.join(unknown)}; choose from {', '.join(known)}")
    if min(args.drain, args.concurrency, args.repeat) < 1 or args.scale <= 0:
        parser.error("--drain, --concurrency and --repeat must be at least 1, --scale above 0")
    if args.pending < args.drain:
        parser.error(f"--pending ({args.pending}) must be at least --drain ({args.drain})")
    return args


#: Packages of ``run.py``'s peers, which ``machine_info`` lists and this report has no use for.
PEERS = frozenset({"huey", "saq", "arq", "taskiq", "taskiq-redis", "rq"})


def _machine(engines: Sequence[str]) -> dict[str, str]:
    """``run.py``'s machine information without its peers, with the engines' server versions."""
    info = {key: value for key, value in machine_info().items() if key not in PEERS}
    load = info.pop("load average at start (1, 5, 15 min)")
    info["commit"] = _commit()
    for distribution in ("omniq-postgres", "asyncpg"):
        info[distribution] = _version(distribution)
    for engine in engines:
        store = store_class(engine)
        try:
            version = asyncio.run(store.server_version())
        except Exception as exc:  # the engine's rows will fail and say why
            version = f"unknown ({type(exc).__name__})"
        if version is not None:
            info[f"{engine} server"] = version
    info["load average at start (1, 5, 15 min)"] = load
    return info


def _commit() -> str:
    """The checkout whose omniq-core is measured: its commit, and whether files differ from it."""
    import omniq.core  # noqa: PLC0415

    git = ["git", "-C", str(Path(omniq.core.__file__).parent)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return f"unknown (omniq-core from {Path(omniq.core.__file__).parents[3]})"
    return commit.stdout.strip() + (" with uncommitted changes" if changes.stdout.strip() else "")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rotated(items: Sequence[object], start: int) -> list[int]:
    """Indexes of ``items`` starting at ``start`` (mod len), wrapping around."""
    start %= len(items)
    return [*range(start, len(items)), *range(start)]


def _check_fill(engine: str, result: EngineResult, config: ScaleConfig) -> None:
    """Compare a filled history with a worker's drain on ``engine``, once per run."""
    with tempfile.TemporaryDirectory(prefix=f"omniq-scale-{engine}-check-") as workdir:
        filled_dir, drained_dir = Path(workdir, "filled"), Path(workdir, "drained")
        filled_dir.mkdir()
        drained_dir.mkdir()
        try:
            with open_store(engine, filled_dir) as filled, open_store(engine, drained_dir) as drained:
                result.fill_check = check_fill(filled, drained, drained_dir, config.phase_timeout)
        except Exception as exc:
            traceback.print_exc()
            result.errors.setdefault("", []).append(f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
    _progress(f"{result.store.name}: history fill check: {'; '.join(result.fill_check) or 'the same'}")


def _measure(engine: str, case: Case, result: EngineResult, config: ScaleConfig, round_no: int) -> None:
    """One case of one engine in one round, its figures or its error recorded in ``result``."""
    name = result.store.name
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"omniq-scale-{engine}-{case.key}-") as workdir:
        try:
            figures = run_case(engine, case, config, Path(workdir))
        except Exception as exc:
            traceback.print_exc()
            error = f"round {round_no + 1}: {type(exc).__name__}: {exc}".splitlines()[0]
            result.errors.setdefault(case.key, []).append(error)
            return
    text = f"{figures.tasks_per_second:,.0f} tasks/s"
    baseline = result.rounds.get("baseline", {}).get(round_no)
    if case.key == "baseline":
        drains = (*(baseline.drains if baseline else ()), figures.tasks_per_second)
        figures = dataclasses.replace(figures, tasks_per_second=statistics.mean(drains), drains=drains)
    elif baseline is not None and not case.bytes:
        text += f" ({figures.tasks_per_second / baseline.tasks_per_second:.2f}x the baseline so far)"
    result.rounds.setdefault(case.key, {})[round_no] = figures
    if figures.bytes_per_task is not None:
        text += f", {figures.bytes_per_task:,.0f} bytes per finished task"
    _progress(f"{name} {case.key}: {text} [{time.monotonic() - started:.0f} s with the fill]")


def run(
    config: ScaleConfig,
    engines: Sequence[str],
    cases: Sequence[Case],
    rounds: int,
    *,
    fill_check: bool = True,
) -> list[EngineResult]:
    """Every round of every case on every engine.

    Within a round, an engine's baseline is drained twice, before and after its other rows, and
    the mean of the two is the reference of their ratios: a drain lasts well under a second, and
    a single baseline caught by a burst of load would skew the whole column. Rounds rotate the
    order of the engines and of the rows between the two baselines, so that no row always runs
    first or last while the machine's load drifts.
    """
    results = [EngineResult(store_class(engine)) for engine in engines]
    baseline = [case for case in cases if case.key == "baseline"]
    others = [case for case in cases if case.key != "baseline"]
    for round_no in range(rounds):
        for index in _rotated(engines, round_no):
            engine, result = engines[index], results[index]
            if round_no == 0 and fill_check and not result.store.in_process:
                _check_fill(engine, result, config)
            rotated = [others[i] for i in _rotated(others, round_no)] if others else []
            for case in [*baseline, *rotated, *baseline]:
                if case.applies_to(result.store):
                    _progress(f"[round {round_no + 1}/{rounds}] {result.store.name} {case.key}: {case.label}")
                    _measure(engine, case, result, config, round_no)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scale table; returns the exit status (1 if a row failed or a fill check differed)."""
    args = parse_args(argv)
    config = ScaleConfig(
        drain=args.drain,
        concurrency=args.concurrency,
        pending=args.pending,
        scale=args.scale,
        phase_timeout=args.phase_timeout,
    )
    chosen = set(args.cases.split(",")) | {"baseline"}
    cases = [case for case in build_cases(config) if case.key in chosen]
    engines = [engine for engine in ENGINES if engine in args.engines.split(",")]
    check = not args.no_fill_check and any(case.history for case in cases)
    info = _machine(engines)
    if args.note:
        info["note"] = args.note
    results = run(config, engines, cases, args.repeat, fill_check=check)
    info["load average at end"] = load_average()
    report = markdown(results, cases, config, args.repeat, info)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.md").write_text(report, encoding="utf-8")
    failed = any(r.errors or r.fill_check for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
