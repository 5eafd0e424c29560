"""The installed ``omniq`` script as a new user meets it: read-only commands that create nothing,
``--version``, the worker banner, the process worker kind and output cut short by a closed pipe."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import asyncpg
import pytest

from omniq.core import AsyncOmniQ, OmniQ
from omniq.core.records import EventRecord

#: The script pip installs, as users run it.
SCRIPT = str(Path(sys.executable).parent / "omniq")
POSTGRES_URL = os.environ.get("OMNIQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

#: Every command that reads, or changes only tasks that exist, with its arguments.
EXISTING_ONLY = [
    ["info"],
    ["status"],
    ["dead", "list"],
    ["dead", "requeue", "--all"],
    ["dead", "purge"],
    ["events"],
    ["result", "0" * 32],
    ["tasks", "list"],
    ["tasks", "purge", "--status", "completed"],
    ["cancel", "0" * 32],
    ["schedules", "list"],
    ["schedules", "pause", "nightly"],
]

#: The project's own task module (the current directory is on the worker's import path).
JOBS = """import os


def pid() -> int:
    return os.getpid()


def double(x: int) -> int:
    return 2 * x
"""


def omniq(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_version() -> None:
    done = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.startswith(f"omniq {metadata.version('omniq-core')} (")
    assert f"omniq-sqlite {metadata.version('omniq-sqlite')}" in done.stdout


@pytest.mark.parametrize("command", EXISTING_ONLY, ids=" ".join)
def test_a_missing_sqlite_file_is_an_error_and_stays_missing(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "data" / "jobs.db"
    done = omniq(*command, "--url", f"sqlite:///{path}", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith(f"omniq: error: there is no OmniQ database at {path}")
    assert len(done.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_default_file_is_not_created_by_a_read_only_command(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMNIQ_")}
    done = subprocess.run(
        [SCRIPT, "info"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and "there is no OmniQ database at" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def fresh_schema() -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_a_postgres_database_without_the_schema_is_an_error(tmp_path: Path, fresh_schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={fresh_schema}"
    done = omniq("tasks", "list", "--url", url, cwd=tmp_path)
    assert done.returncode == 1
    assert f"there is no OmniQ schema '{fresh_schema}'" in done.stderr

    async def schema_exists() -> bool:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            found: bool = await conn.fetchval("SELECT to_regnamespace($1) IS NOT NULL", f'"{fresh_schema}"')
            return found
        finally:
            await conn.close()

    assert not asyncio.run(schema_exists())


def test_the_worker_banner_masks_the_password(tmp_path: Path, fresh_schema: str) -> None:
    # The server trusts loopback logins, so a password in the URI is accepted and ignored.
    url = POSTGRES_URL.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    url = f"{url}?schema={fresh_schema}"
    (tmp_path / "jobs.py").write_text(JOBS, encoding="utf-8")
    worker = subprocess.Popen(
        [SCRIPT, "worker", "--url", url, "-q", "high,low", "-t", "thread", "-c", "3"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    banner = [worker.stderr.readline() for _ in range(4)]
    with OmniQ(url) as oq:  # once a task ran, the worker is past its start and stops gracefully
        oq.get_result(oq.enqueue("jobs:double", {"x": 1}, queue_name="low"), timeout=60)
    worker.send_signal(signal.SIGTERM)
    _, rest = worker.communicate(timeout=60)
    shown = "".join(banner) + rest
    assert worker.returncode == 0, shown
    assert "hunter2" not in shown
    assert banner[0].startswith(
        f"omniq {metadata.version('omniq-core')}: worker serving postgresql://postgres:***@"
    )
    assert [line.split(":")[0].strip() for line in banner[1:]] == ["queues", "kind", "concurrency"]
    assert "high, low" in banner[1] and "thread" in banner[2] and "3" in banner[3]


def test_a_process_worker_started_from_the_command_line_runs_tasks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    (tmp_path / "jobs.py").write_text(
        "import os\n\ndef pid() -> int:\n    return os.getpid()\n", encoding="utf-8"
    )
    task_id = omniq("enqueue", "jobs:pid", "--url", url, cwd=tmp_path).stdout.strip()
    worker = subprocess.Popen([SCRIPT, "worker", "--url", url, "-t", "process", "-c", "1"], cwd=tmp_path)
    try:
        done = omniq("result", task_id, "--wait", "60", "--url", url, cwd=tmp_path)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)["value"]
    assert child not in (worker.pid, os.getpid())  # it ran in a child process


def test_events_piped_into_head_end_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"

    async def store_events() -> None:
        async with AsyncOmniQ(url) as app:
            assert app.event_store is not None
            events = [
                EventRecord(type="enqueued", task_id=f"{n:032x}", at=1.0 + n, queue="default")
                for n in range(5000)
            ]
            await app.event_store.append_events(events)

    asyncio.run(store_events())
    done = subprocess.run(
        [
            "bash",
            "-c",
            f"'{SCRIPT}' events -n 0 --url '{url}' | head -1; echo \"status=${{PIPESTATUS[0]}}\" >&2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert len(done.stdout.splitlines()) == 1 and f"{0:032x}" in done.stdout
    assert done.stderr.strip() == "status=141", done.stderr  # no traceback, the status a shell expects


def test_tasks_list_and_purge_through_the_script(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    with OmniQ(url) as oq:
        cancelled = oq.enqueue("jobs:double", {"x": 1})
        oq.cancel(cancelled)
        pending = oq.enqueue("jobs:double", {"x": 2})
    listed = omniq("tasks", "list", "--status", "cancelled", "--url", url, cwd=tmp_path)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [cancelled]
    purged = omniq(
        "tasks", "purge", "--status", "cancelled", "--older-than", "0s", "--url", url, cwd=tmp_path
    )
    assert purged.stdout.strip() == "purged 1 task(s)"
    left = omniq("tasks", "list", "--json", "--url", url, cwd=tmp_path)
    assert [json.loads(line)["id"] for line in left.stdout.splitlines()] == [pending]
