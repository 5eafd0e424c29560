"""The ``omniq`` command, run as users run it: in subprocesses, against an SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from omniq.core import AsyncOmniQ, OmniQ, installed_schemes
from omniq.core.records import EventRecord
from omniq.core.registry import KNOWN_BACKENDS
from omniq.core.testing import tasks

OMNIQ = [sys.executable, "-m", "omniq.core.cli"]


def omniq(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OMNIQ, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_demo_runs_every_task_and_summarises(tmp_path: Path) -> None:
    done = omniq("demo", "--tasks", "150", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "summary: 150/150 finished" in done.stdout
    assert "dead letters" in done.stdout
    assert "148 completed, 2 dead" in done.stdout
    assert (tmp_path / "omniq-demo.db").exists()


def test_enqueue_worker_result_and_info(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    enqueued = omniq(
        "enqueue", "omniq.core.testing.tasks:add", "--kwargs", '{"a": 1, "b": 2}', "--url", url, cwd=tmp_path
    )
    assert enqueued.returncode == 0, enqueued.stderr
    task_id = enqueued.stdout.strip()
    info = omniq("info", "--url", url, cwd=tmp_path)
    assert info.returncode == 0
    assert "default" in info.stdout
    worker = subprocess.Popen(
        [*OMNIQ, "worker", "--url", url, "-c", "2", "-i", "omniq.core.testing"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
    )
    try:
        result = omniq("result", task_id, "--wait", "60", "--url", url, cwd=tmp_path)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, worker_log = worker.communicate(timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"worker serving" in worker_log
    assert json.loads(result.stdout)["value"] == 3
    assert worker.returncode == 0


def test_errors_are_one_line_and_a_non_zero_status(tmp_path: Path) -> None:
    unknown = omniq("info", "--url", "bogus://nowhere", cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("omniq: error: no backend serves bogus://")
    assert "Traceback" not in unknown.stderr
    scheme, package = _a_backend_not_installed()
    missing = omniq("info", "--url", f"{scheme}://:hunter2@localhost/0", cwd=tmp_path)
    assert f"pip install {package}" in missing.stderr
    assert "hunter2" not in missing.stderr
    bad_json = omniq("enqueue", "m:f", "--kwargs", "[1]", "--url", f"sqlite:///{tmp_path}/x.db", cwd=tmp_path)
    assert bad_json.returncode == 1
    assert "--kwargs must be a JSON object" in bad_json.stderr
    with OmniQ(f"sqlite:///{tmp_path}/x.db"):
        pass
    absent = omniq("result", "nope", "--url", f"sqlite:///{tmp_path}/x.db", cwd=tmp_path)
    assert absent.returncode == 2
    assert "unknown task" in absent.stderr


def _a_backend_not_installed() -> tuple[str, str]:
    """A scheme whose (known) backend package is not installed here, and that package."""
    installed = set(installed_schemes())
    missing = [(scheme, package) for scheme, package in KNOWN_BACKENDS.items() if scheme not in installed]
    assert missing, "every known backend is installed; test the message another way"
    return missing[0]


def test_dead_letters_are_listed_requeued_and_purged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    with OmniQ(url, poll_interval=0.02) as oq:
        ids = [oq.enqueue(tasks.fail, {"message": f"bad {n}"}, max_retries=0) for n in range(3)]
        oq.start_worker()
        for task_id in ids:
            oq.get_result(task_id, timeout=60)
        oq.stop_worker()
    listed = omniq("dead", "list", "--url", url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert all(task_id in listed.stdout for task_id in ids)
    assert "ValueError: bad 0" in listed.stdout
    requeued = omniq("dead", "requeue", ids[0], "--url", url, cwd=tmp_path)
    assert (requeued.returncode, requeued.stdout.strip()) == (0, "requeued 1 task(s)")
    again = omniq("dead", "requeue", ids[0], "--url", url, cwd=tmp_path)
    assert again.returncode == 2 and "not requeued" in again.stderr
    purged = omniq("dead", "purge", "--url", url, cwd=tmp_path)
    assert purged.stdout.strip() == "purged 2 dead task(s)"
    with OmniQ(url) as oq:
        assert [task.id for task in oq.list_tasks()] == [ids[0]]
        assert oq.dead_letters() == []


def test_schedules_are_listed_paused_resumed_and_cancelled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    with OmniQ(url) as oq:
        every = oq.schedule(tasks.noop, interval=3600)
        nightly = oq.schedule(tasks.noop, cron="0 3 * * *", timezone="Europe/Paris")
    listed = omniq("schedules", "list", "--url", url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert every in listed.stdout and "every 3600 s" in listed.stdout and "0 3 * * *" in listed.stdout
    paused = omniq("schedules", "pause", every, nightly, "--url", url, cwd=tmp_path)
    assert (paused.returncode, paused.stdout.strip()) == (0, "paused 2 schedule(s)")
    only_paused = omniq("schedules", "list", "--status", "paused", "--url", url, cwd=tmp_path)
    assert every in only_paused.stdout and nightly in only_paused.stdout
    resumed = omniq("schedules", "resume", every, "--url", url, cwd=tmp_path)
    assert resumed.stdout.strip() == "resumed 1 schedule(s)"
    cancelled = omniq("schedules", "cancel", every, "--url", url, cwd=tmp_path)
    assert cancelled.stdout.strip() == "cancelled 1 schedule(s)"
    again = omniq("schedules", "cancel", every, "--url", url, cwd=tmp_path)
    assert again.returncode == 2 and "not cancelled" in again.stderr
    unknown = omniq("schedules", "pause", "nope", "--url", url, cwd=tmp_path)
    assert unknown.returncode == 1 and "no schedule has the id 'nope'" in unknown.stderr


def test_a_corrupt_database_or_bad_log_level_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.db").write_bytes(b"this is not an SQLite file" * 100)
    corrupt = omniq("info", "--url", f"sqlite:///{tmp_path}/bad.db", cwd=tmp_path)
    assert corrupt.returncode == 1
    assert corrupt.stderr.startswith("omniq: error:") and "Traceback" not in corrupt.stderr
    assert len(corrupt.stderr.strip().splitlines()) == 1
    loud = subprocess.run(
        [*OMNIQ, "info", "--url", f"sqlite:///{tmp_path}/ok.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMNIQ_LOG_LEVEL": "loud"},
    )
    assert loud.returncode == 1
    assert "OMNIQ_LOG_LEVEL='loud' is invalid: expected a log level" in loud.stderr
    assert len(loud.stderr.strip().splitlines()) == 1


def test_worker_refuses_an_application_and_a_url_together(tmp_path: Path) -> None:
    both = omniq("worker", "myproject.tasks:app", "--url", "sqlite:///x.db", cwd=tmp_path)
    assert both.returncode == 1
    assert "not both" in both.stderr


def test_every_command_reads_the_config_file_and_env_wins_over_it(tmp_path: Path) -> None:
    (tmp_path / "omniq.yaml").write_text(
        f"base_dir: {tmp_path}\nproject_name: fromfile\ntask_queue: {{type: sqlite}}\n"
    )
    queued = omniq("enqueue", "omniq.core.testing.tasks:add", "--kwargs", '{"a": 1, "b": 2}',
                   "--config", "omniq.yaml", cwd=tmp_path)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert (tmp_path / "fromfile.db").exists()
    info = omniq("info", "--config", "omniq.yaml", cwd=tmp_path)
    assert info.returncode == 0 and "default" in info.stdout and " 1 " in info.stdout
    result = omniq("dead", "list", "--config", "omniq.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "(no dead tasks)" in result.stdout
    other = subprocess.run(
        [*OMNIQ, "info", "--config", "omniq.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path}/fromenv.db"},
    )
    # The environment's store wins over the file's; read-only, the command does not create it.
    assert other.returncode == 1 and f"no OmniQ database at {tmp_path}/fromenv.db" in other.stderr
    assert not (tmp_path / "fromenv.db").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("max_workers: many\n", "max_workers='many' in omniq.yaml is invalid: expected int, got str"),
        ("task_queue: {type: nosuch}\n", "task_queue.type='nosuch' is invalid: no backend serves nosuch://"),
        ("tasks_queue: sqlite:///x.db\n", "unknown key 'tasks_queue' in omniq.yaml"),
        ("task_queue: {url: 'nats://u:hunter2@h:4222'}\n", "task_queue.url: the nats:// backend is not"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "omniq.yaml").write_text(content)
    done = omniq("info", "--config", "omniq.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert done.stderr.startswith(f"omniq: error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_events_are_listed_filtered_and_followed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    asyncio.run(_store_an_hour_old_event(url, "old-task"))
    follow = subprocess.Popen(
        [*OMNIQ, "events", "--follow", "--interval", "0.2", "--url", url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        enqueued = omniq(
            "enqueue",
            "omniq.core.testing.tasks:add",
            "--kwargs",
            '{"a": 1, "b": 2}',
            "--url",
            url,
            cwd=tmp_path,
        )
        task_id = enqueued.stdout.strip()
        worker = subprocess.Popen(
            [*OMNIQ, "worker", "--url", url, "-c", "2"], cwd=tmp_path, stderr=subprocess.PIPE
        )
        try:
            assert omniq("result", task_id, "--wait", "60", "--url", url, cwd=tmp_path).returncode == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.communicate(timeout=60)
        followed = _lines_until(follow, "completed", within=60)
    finally:
        follow.send_signal(signal.SIGINT)
        _, follow_errors = follow.communicate(timeout=60)
    assert [line.split()[1] for line in followed if task_id in line] == ["enqueued", "executing", "completed"]
    assert not [line for line in followed if "old-task" in line]  # following starts a minute back
    assert "old-task" in omniq("events", "--url", url, cwd=tmp_path).stdout
    assert follow.returncode == 130, follow_errors
    listed = omniq("events", "--task", task_id, "--url", url, cwd=tmp_path)
    assert [line.split()[1] for line in listed.stdout.splitlines()] == ["enqueued", "executing", "completed"]
    as_json = omniq("events", "--type", "completed", "--json", "--url", url, cwd=tmp_path)
    [completed] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (completed["type"], completed["task_id"], completed["attempt"]) == ("completed", task_id, 1)
    unknown = omniq("events", "--type", "finished", "--url", url, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "--type 'finished' is not an event type" in unknown.stderr


async def _store_an_hour_old_event(url: str, task_id: str) -> None:
    async with AsyncOmniQ(url) as app:
        assert app.event_store is not None
        old = EventRecord(type="enqueued", task_id=task_id, at=time.time() - 3600, queue="default", attempt=0)
        await app.event_store.append_events([old])


def _lines_until(process: subprocess.Popen[str], marker: str, *, within: float) -> list[str]:
    """Lines ``process`` prints until one holds ``marker`` (a hang guard of ``within`` seconds)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if marker in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert found.wait(within), f"no line with {marker!r} in {lines}"
    return lines


#: Passwords as people paste them into URIs, unescaped, and the pieces that must never be shown.
_PASSWORDS = [
    "Alpha1?Bravo2#Charlie3",
    "Alpha1/Bravo2",
    "Alpha1@Bravo2",
    "Alpha1#Bravo2&Charlie3",
    "Alpha1:Bravo2%",
]


@pytest.mark.parametrize("password", _PASSWORDS)
@pytest.mark.parametrize(
    "template",
    [
        "redis://:{pw}@127.0.0.1:1/11",
        "redis://127.0.0.1:1/11?password={pw}",
        "postgresql://app:{pw}@127.0.0.1:1/app",
        "postgresql://127.0.0.1:1/app?password={pw}",
    ],
)
def test_no_piece_of_a_password_reaches_the_output(tmp_path: Path, template: str, password: str) -> None:
    # Port 1 refuses connections: every command fails and names the server it could not reach.
    url = template.format(pw=password)
    for command in (["info"], ["worker"], ["dead", "list"]):
        done = omniq(*command, "--url", url, cwd=tmp_path, timeout=60)
        shown = done.stdout + done.stderr
        assert done.returncode != 0, shown
        leaked = [piece for piece in ("Alpha1", "Bravo2", "Charlie3") if piece in shown]
        assert not leaked, shown
        assert "Traceback" not in shown


def test_a_worker_runs_only_the_functions_it_was_given(tmp_path: Path) -> None:
    # Whoever can write to the store must not be able to run a shell command on the workers.
    url = f"sqlite:///{tmp_path}/jobs.db"
    (tmp_path / "jobs.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    witness = tmp_path / "pwned"
    shell = omniq(
        "enqueue", "os:system", "--args", json.dumps([f"touch {witness}"]), "--url", url, cwd=tmp_path
    )
    own = omniq("enqueue", "jobs:double", "--args", "[21]", "--url", url, cwd=tmp_path)
    assert shell.returncode == own.returncode == 0, shell.stderr + own.stderr
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    worker = subprocess.Popen([*OMNIQ, "worker", "--url", url], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        refused = omniq("result", shell.stdout.strip(), "--wait", "60", "--url", url, cwd=tmp_path)
        allowed = omniq("result", own.stdout.strip(), "--wait", "60", "--url", url, cwd=tmp_path)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    error = json.loads(refused.stdout)["error"]
    assert error["type"] == "omniq.core.errors.FunctionNotAllowedError"
    assert "standard library" in error["message"]
    assert not witness.exists()
    assert json.loads(allowed.stdout)["value"] == 42  # the project's own module runs


def test_a_directory_as_sqlite_file_is_one_line_naming_it(tmp_path: Path) -> None:
    done = omniq("info", "--url", f"sqlite:///{tmp_path}", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"omniq: error: cannot open the SQLite database {tmp_path}: unable to open database file"
    )


def test_url_does_not_turn_on_events_the_environment_turned_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    env = {**os.environ, "OMNIQ_EVENT_STORAGE_URL": "none"}
    done = subprocess.run(
        [*OMNIQ, "enqueue", "omniq.core.testing.tasks:add", "--kwargs", '{"a": 1, "b": 2}', "--url", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with OmniQ(url) as oq:
        assert oq.events(done.stdout.strip()) == []
