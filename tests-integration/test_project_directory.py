"""``omniq worker myapp:oq`` run from the project's directory finds ``myapp`` without PYTHONPATH,
as Celery, RQ and arq do, in the worker and in process-pool children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omniq.core import OmniQ

APP = textwrap.dedent(
    """
    from omniq.core import OmniQ

    oq = OmniQ("sqlite:///project.db")

    @oq.task
    def double(x: int) -> int:
        return 2 * x
    """
)


@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_the_worker_imports_the_application_from_the_current_directory(
    tmp_path: Path, worker_type: str
) -> None:
    (tmp_path / "myapp.py").write_text(APP, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    worker = subprocess.Popen(
        # The installed script, as users run it (``python -m`` would put the directory on the path
        # by itself).
        [str(Path(sys.executable).parent / "omniq"), "worker", "myapp:oq", "-t", worker_type],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with OmniQ(f"sqlite:///{tmp_path}/project.db") as oq:
            task_id = oq.enqueue("myapp:double", {"x": 21})
            result = oq.get_result(task_id, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=60)
    assert result is not None and result.value == 42, log
    assert "No module named" not in log
