"""``benchmarks/scale.py`` end to end with tiny sizes: every row runs and the report has its shape.

Only the engines of the workspace's core packages (memory and SQLite) are selected, and no figure
is checked: the point is that the tool works, not how fast this machine is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omniq.core.testing.installed import installed_environment

SCALE = Path(__file__).parents[1] / "benchmarks" / "scale.py"


def test_scale_reports_every_row_and_criterion(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(SCALE),
        "--engines=memory,sqlite",
        "--drain=50",
        "--pending=100",
        "--scale=0.002",
        f"--out={tmp_path}",
        "--phase-timeout=60",
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
    report = (tmp_path / "scale.md").read_text(encoding="utf-8")
    assert report in done.stdout
    rows = [line for line in report.splitlines() if line.startswith("| ") and "|---" not in line]
    assert rows[0] == "| Case | omniq-memory | omniq-sqlite |", report
    cases = rows[1 : rows.index("| Criterion | omniq-memory | omniq-sqlite |")]
    labels = [row.split("|")[1].strip().partition(":")[0] for row in cases]
    assert labels == [
        "baseline",
        "backlog",
        "backlog",
        "history",
        "history",
        "history",
        "statistics",
        "dependencies",
        "bytes",
    ], report
    for row in cases:
        memory, sqlite = (cell.strip() for cell in row.split("|")[2:4])
        assert sqlite.endswith("/s"), report
        assert memory.endswith("/s") or memory == "n/a", report
    assert "history fill checked against a worker process's drain of 200 tasks" in report
    assert "drain of 200 tasks (rows or keys per task, statuses, event types, fields): the same." in report
