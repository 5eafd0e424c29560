"""Fixtures shared by the integration tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def as_installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables in which ``omniq`` counts as an installed distribution, as it does
    after ``pip install omniq-core`` (an editable install of the workspace does not).

    A worker then runs ``omniq.core.testing.tasks`` functions only if they are registered or their
    package is named in ``task_modules`` (see omniq.core.function_policy): what a user who
    installed the distributions gets.
    """
    site = tmp_path_factory.mktemp("site")
    record = site / "omniq_as_installed-1.0.dist-info"
    record.mkdir()
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: omniq-as-installed\nVersion: 1.0\n")
    (record / "top_level.txt").write_text("omniq\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}
