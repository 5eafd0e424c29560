"""A process worker started from a script's top level without ``if __name__ == "__main__":``
fails at once, saying what to add, instead of its children starting it again."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omniq.core.worker._main_guard import _guarded_lines

_APP = """\
from omniq.core import OmniQ
from omniq.core.testing import tasks

oq = OmniQ("memory://{db}", task_modules=["omniq.core.testing"])
"""

_STARTS = {
    "start_worker": """\
oq.start_worker(worker_type="process", max_workers=1)
task_id = oq.enqueue(tasks.add, {"a": 1, "b": 2})
print("result", oq.get_result(task_id, timeout=60).value)
oq.close()
""",
    "run_worker": 'oq.run_worker(worker_type="process", max_workers=1)\n',
}


def _run(script: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(script)]
    return subprocess.run(command, check=False, cwd=script.parent, capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize("start", sorted(_STARTS))
def test_unguarded_script_fails_at_once_naming_the_guard(tmp_path: Path, start: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(_APP.format(db=tmp_path.name) + _STARTS[start], encoding="utf-8")
    run = _run(script)
    assert run.returncode != 0
    assert "RuntimeError: a process worker was started at line 5 of" in run.stderr
    assert 'if __name__ == "__main__":' in run.stderr
    assert "bootstrapping phase" not in run.stderr  # no child got as far as starting it again
    assert "result" not in run.stdout


def test_guarded_script_runs_its_tasks(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    body = textwrap.indent(_STARTS["start_worker"], "    ")
    script.write_text(
        _APP.format(db=tmp_path.name) + f'\nif __name__ == "__main__":\n{body}', encoding="utf-8"
    )
    run = _run(script)
    assert (run.returncode, run.stdout) == (0, "result 3\n"), run.stderr


def test_guard_is_recognised_in_its_usual_spellings(tmp_path: Path) -> None:
    source = tmp_path / "guards.py"
    source.write_text(
        textwrap.dedent(
            """\
            x = 1
            if __name__ == "__main__":
                a = 1
            if '__main__' == __name__:
                b = (1,
                     2)
            if __name__ == "__main__" and x:
                c = 3
            if x:
                d = 4
            """
        ),
        encoding="utf-8",
    )
    assert _guarded_lines(str(source)) == frozenset({3, 5, 6, 8})


def test_a_package_main_run_with_dash_m_is_not_refused(tmp_path: Path) -> None:
    # multiprocessing does not import a package's __main__ again in its children, so top-level
    # code there is safe (``python -m omniq.core.cli worker -t process`` is such a case).
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "__main__.py").write_text(
        _APP.format(db=tmp_path.name) + _STARTS["start_worker"], encoding="utf-8"
    )
    run = subprocess.run(
        [sys.executable, "-m", "myapp"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert (run.returncode, run.stdout) == (0, "result 3\n"), run.stderr
