"""The ``omniq`` command in this process, on named in-memory stores (which outlive one command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from importlib import metadata

import pytest

from omniq.core import AsyncOmniQ, OmniQ, TaskStatus
from omniq.core.cli import EXIT_PIPE_CLOSED, _banner, main
from omniq.core.cli._arguments import duration

ADD = "omniq.core.testing.tasks:add"


@pytest.fixture
def url() -> str:
    return f"memory://cli-{uuid.uuid4().hex}"


def omniq(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_version_names_core_and_the_installed_backends(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"omniq {metadata.version('omniq-core')}")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("1w", 604800), ("2.5", 2.5), (" 90S ", 90)],
)
def test_durations_read_units(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7y", "-1d", "d", "1e400", "nan", "1 day"])
def test_a_bad_duration_is_an_error_naming_it(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tasks", "purge", "--status", "completed", f"--older-than={text}", "--url", "memory://x"])
    assert exited.value.code == 2
    assert "is not a duration" in capsys.readouterr().err


def test_enqueue_passes_every_option(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, first, _ = omniq(capsys, "enqueue", ADD, "--kwargs", '{"a": 1, "b": 2}', "--url", url)
    assert status == 0
    status, out, err = omniq(
        capsys,
        "enqueue", ADD, "--args", "[1, 2]", "--url", url,
        "--queue", "math", "--priority", "7", "--run-in", "1h", "--ttl", "2d", "--timeout", "90s",
        "--max-retries", "4", "--dedup-key", "sum-1-2", "--depends-on", first.strip(),
    )  # fmt: skip
    assert status == 0, err
    with OmniQ(url) as oq:
        task = oq.get_task(out.strip())
    assert task is not None
    assert (task.queue, task.priority, task.timeout, task.retry.max_retries) == ("math", 7, 90.0, 4)
    assert (task.dedup_key, task.depends_on, task.status) == ("sum-1-2", (first.strip(),), TaskStatus.WAITING)
    assert (task.due_at - task.created_at).total_seconds() == pytest.approx(3600)
    assert task.expires_at is not None
    assert (task.expires_at - task.due_at).total_seconds() == pytest.approx(2 * 86400)
    _, again, _ = omniq(capsys, "enqueue", ADD, "--args", "[1, 2]", "--dedup-key", "sum-1-2", "--url", url)
    assert again == out  # the live task holding the key


def test_tasks_list_filters_and_prints_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(url) as oq:
        ids = [oq.enqueue(ADD, {"a": n, "b": 0}, queue_name=queue) for n, queue in enumerate("aab")]
        oq.cancel(ids[1])
    status, out, _ = omniq(capsys, "tasks", "list", "--url", url)
    assert status == 0
    assert [line.split()[:3] for line in out.splitlines()] == [
        [ids[0], "pending", "a"],
        [ids[1], "cancelled", "a"],
        [ids[2], "pending", "b"],
    ]
    _, only_a, _ = omniq(capsys, "tasks", "list", "-q", "a", "--status", "pending", "--url", url)
    assert [line.split()[0] for line in only_a.splitlines()] == [ids[0]]
    _, limited, _ = omniq(capsys, "tasks", "list", "--limit", "1", "--json", "--url", url)
    [row] = [json.loads(line) for line in limited.splitlines()]
    assert (row["id"], row["status"], row["func"]) == (ids[0], "pending", ADD)
    _, none, _ = omniq(capsys, "tasks", "list", "--status", "dead", "--url", url)
    assert none.strip() == "(no tasks)"
    with pytest.raises(SystemExit):
        main(["tasks", "list", "--status", "finished", "--url", url])


def test_tasks_purge_deletes_the_statuses_named(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(url) as oq:
        kept, cancelled = oq.enqueue(ADD, {"a": 1, "b": 1}), oq.enqueue(ADD, {"a": 2, "b": 2})
        oq.cancel(cancelled)
    status, young, _ = omniq(
        capsys, "tasks", "purge", "--status", "cancelled", "--older-than", "1h", "--url", url
    )
    assert (status, young.strip()) == (0, "purged 0 task(s)")
    _, out, _ = omniq(capsys, "tasks", "purge", "--status", "completed,cancelled", "-s", "dead", "--url", url)
    assert out.strip() == "purged 1 task(s)"
    with OmniQ(url) as oq:
        assert [task.id for task in oq.list_tasks()] == [kept]
    status, _, err = omniq(capsys, "tasks", "purge", "--status", "pending", "--url", url)
    assert status == 1 and "'pending' is not a final status" in err


def test_cancel_reports_each_task_it_could_not_cancel(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(url) as oq:
        first, second = oq.enqueue(ADD, {"a": 1, "b": 1}), oq.enqueue(ADD, {"a": 2, "b": 2})
    status, out, err = omniq(capsys, "cancel", first, second, "--url", url)
    assert (status, out.strip(), err) == (0, "cancelled 2 task(s)", "")
    status, out, err = omniq(capsys, "cancel", first, "0" * 32, "--url", url)
    assert (status, out.strip()) == (2, "cancelled 0 task(s)")
    assert f"{first}: already cancelled: not cancelled" in err
    assert f"{'0' * 32}: unknown task: not cancelled" in err
    with OmniQ(url) as oq:
        assert {task.status for task in oq.list_tasks()} == {TaskStatus.CANCELLED}


def test_dead_purge_takes_a_duration(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = omniq(capsys, "dead", "purge", "--older-than", "7d", "--url", url)
    assert (status, out.strip()) == (0, "purged 0 dead task(s)")


def test_worker_help_lists_every_worker_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "async, thread, process" in shown and "gevent" in shown


def _cli(*args: str, stdout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omniq.core.cli", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_closed_output_pipe_ends_the_command_quietly() -> None:
    reader, writer = os.pipe()
    os.close(reader)  # every write the command makes meets a closed pipe
    try:
        done = _cli("tasks", "list", "--url", "memory://closed-pipe", stdout=writer)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (EXIT_PIPE_CLOSED, "")


def test_the_worker_banner_names_version_backend_queues_kind_and_concurrency(url: str) -> None:
    app = AsyncOmniQ(task_queue=url, result_store=url, event_store=False)
    banner = _banner(app, "thread", 6, ["high", "low"])
    assert banner.splitlines()[0] == f"omniq {metadata.version('omniq-core')}: worker serving {url}"
    assert "queues:      high, low" in banner and "kind:        thread (ThreadPoolWorker)" in banner
    assert "concurrency: 6" in banner and "events:      off" in banner
    defaults = _banner(AsyncOmniQ(url), None, None, None)
    assert "queues:      default" in defaults and "kind:        async" in defaults
    assert "concurrency: 10" in defaults


def test_the_facades_show_all_three_stores() -> None:
    app = AsyncOmniQ(task_queue="memory://q", result_store="memory://r", event_store=False)
    assert repr(app) == "AsyncOmniQ(task_queue=memory://q, result_store=memory://r, event_store=None)"
    with OmniQ("memory://one") as oq:
        assert (
            repr(oq) == "OmniQ(task_queue=memory://one, result_store=memory://one, event_store=memory://one)"
        )
