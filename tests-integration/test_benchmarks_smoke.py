"""``benchmarks/run.py`` end to end with a tiny workload: every phase runs and reports a row.

Only systems served by the workspace packages are selected (Huey and matplotlib are optional), and
no figure is checked: the point is that the harness works, not how fast this machine is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omniq.core.testing.installed import installed_environment

RUN = Path(__file__).parents[1] / "benchmarks" / "run.py"
SYSTEMS = {"memory": "omniq-memory", "sqlite": "omniq-sqlite", "raw-sqlite": "raw-sqlite"}


def test_harness_reports_a_row_per_system(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(RUN),
        "--tasks=200",
        "--single=50",
        "--latency-tasks=10",
        "--latency-interval=0.01",
        f"--only={','.join(SYSTEMS)}",
        f"--out={tmp_path}",
        "--phase-timeout=60",
        "--no-chart",
    ]
    done = subprocess.run(
        command,
        env=installed_environment(tmp_path / "site"),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert report in done.stdout
    rows = [line for line in report.splitlines() if line.startswith("| ") and "|---" not in line]
    names = [row.split("|")[1].strip() for row in rows]
    for name in SYSTEMS.values():
        assert name in names, report
        row = rows[names.index(name)]
        assert "failed" not in row, report
    assert "OmniQ-SQLite drain / raw loop drain" in report
