"""The documentation stays true: its Python examples run, and its settings table matches ``Settings``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from omniq.core import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
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
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
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
