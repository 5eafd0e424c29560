"""Run code as it runs after ``pip install omniq-core``, from a workspace with editable installs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["installed_environment"]


def installed_environment(directory: Path) -> dict[str, str]:
    """Environment variables (for a subprocess) in which ``omniq`` counts as an installed
    distribution, as it does after ``pip install omniq-core``; an editable install does not.

    A worker then runs ``omniq.core.testing.tasks`` functions only if they are registered with
    ``@task`` or their package is named in ``task_modules`` (see :mod:`omniq.core.function_policy`),
    which is what users of the published distributions get. ``directory`` receives a ``.dist-info``
    that claims the top-level name ``omniq`` and goes first on ``PYTHONPATH``; nothing of OmniQ's
    own code is changed.
    """
    record = directory / "omniq_as_installed-1.0.dist-info"
    record.mkdir(parents=True, exist_ok=True)
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: omniq-as-installed\nVersion: 1.0\n")
    (record / "top_level.txt").write_text("omniq\n")
    path = os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}
