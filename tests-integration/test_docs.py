"""The documentation stays true: its Python examples run, and its settings table matches ``Settings``."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from omniq.core import Settings
from omniq.core.cli import _parser
from omniq.core.interfaces import BaseScheduleStore
from omniq.core.registry import backend_class
from omniq.core.settings import WorkerType
from omniq.core.testing.installed import installed_environment

ROOT = Path(__file__).resolve().parent.parent
#: The pages whose Python examples run here: the examples of the PostgreSQL and Redis packages'
#: READMEs need a server at the address they show, and are left out.
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "packages" / "omniq-core" / "README.md",
    ROOT / "packages" / "omniq-sqlite" / "README.md",
]
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for number, code in enumerate(FENCE.findall(page.read_text(encoding="utf-8")), start=1):
            found.append((f"{page.relative_to(ROOT)}#{number}", code))
    return found


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[where for where, _ in _examples()])
def test_python_examples_run(where: str, code: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=installed_environment(tmp_path / "site"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"


def test_configuration_page_lists_every_setting_with_its_default() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `(OMNIQ_\w+)` \| [^|]+ \| ([^|]+) \|", page, re.MULTILINE)
    documented = {name: (env, default.strip()) for name, env, default in rows}
    defaults = msgspec.structs.asdict(Settings())
    assert set(documented) == set(defaults)
    for name, value in defaults.items():
        env, shown = documented[name]
        assert env == f"OMNIQ_{name.upper()}"
        assert shown == ("none" if value is None else f"`{value}`"), name


def test_configuration_page_lists_every_worker_kind() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    [row] = [line for line in page.splitlines() if line.startswith("| `default_worker`")]
    assert all(f"`{kind}`" in row for kind in get_args(WorkerType)), row


def test_index_lists_every_distribution_and_its_schemes() -> None:
    page = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for package in sorted((ROOT / "packages").iterdir()):
        rows = [line for line in page.splitlines() if line.startswith(f"| `{package.name}` |")]
        assert rows, f"docs/index.md has no row for {package.name}"
        schemes = [
            point.name
            for point in metadata.entry_points(group="omniq.backends")
            if point.dist is not None and point.dist.name == package.name
        ]
        assert all(f"`{scheme}://" in rows[0] for scheme in schemes), (package.name, schemes)


def test_scheduling_page_names_every_backend_that_keeps_schedules() -> None:
    opening = (ROOT / "docs" / "scheduling.md").read_text(encoding="utf-8").split("\n\n")[1]
    names = {"memory": "memory", "sqlite": "SQLite", "postgresql": "PostgreSQL", "redis": "Redis"}
    for scheme, name in names.items():
        assert issubclass(backend_class(scheme), BaseScheduleStore), scheme
        assert name in opening, name


def test_cli_page_names_every_command() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    commands: list[str] = []
    for name, sub in _subcommands(_parser()).items():
        commands += [f"{name} {verb}" for verb in _subcommands(sub)] or [name]
    missing = [
        command
        for command in commands
        if f"omniq {command}" not in page and f"omniq {command.split()[0]} " not in page
    ]
    assert not missing, missing


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found
