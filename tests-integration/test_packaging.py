"""Each distribution builds a wheel that carries the MIT licence and its README as its index page."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(path for path in (ROOT / "packages").iterdir() if (path / "pyproject.toml").exists())


def _uv() -> str:
    """uv: beside this interpreter (a development environment) or on the PATH (nox installs it)."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    assert found, "uv is needed to build the wheels: pip install uv"
    return found


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    for package in PACKAGES:
        subprocess.run(
            [_uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(package)],
            check=True,
            timeout=300,
        )
    built = {wheel.name.split("-")[0].replace("_", "-"): wheel for wheel in out.glob("*.whl")}
    assert sorted(built) == [package.name for package in PACKAGES]
    return built


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_the_wheel_carries_the_licence(package: Path, wheels: dict[str, Path]) -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "OmniQ contributors" in licence
    assert (package / "LICENSE").read_text(encoding="utf-8") == licence
    with zipfile.ZipFile(wheels[package.name]) as wheel:
        [inside] = [name for name in wheel.namelist() if name.endswith(".dist-info/licenses/LICENSE")]
        assert wheel.read(inside).decode() == licence
        metadata = email.message_from_bytes(wheel.read(inside.replace("licenses/LICENSE", "METADATA")))
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_the_readme_is_the_index_page(package: Path, wheels: dict[str, Path]) -> None:
    readme = (package / "README.md").read_text(encoding="utf-8")
    assert f"pip install {package.name}" in readme or "pip install ./packages/" in readme
    assert "```python" in readme  # a minimal example
    with zipfile.ZipFile(wheels[package.name]) as wheel:
        [name] = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
        text = wheel.read(name).decode("utf-8")
    headers, _, description = text.partition("\n\n")
    assert email.message_from_string(headers)["Description-Content-Type"] == "text/markdown"
    assert description.strip() == readme.strip()
