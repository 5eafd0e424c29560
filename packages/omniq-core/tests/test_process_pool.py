"""The process pool behind ProcessPoolWorker: reuse, replacement, kills, cleanup, context, values."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omniq.core import AsyncOmniQ, ResultStatus
from omniq.core.context import TaskContext, enter_task, leave_task
from omniq.core.errors import TaskTimeoutError, WorkerProcessDiedError
from omniq.core.testing import tasks
from omniq.core.testing._support import eventually
from omniq.core.worker import ProcessPoolWorker, worker_class
from omniq.core.worker._processes import ProcessPool, RemoteTraceback, UnsendableValue


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it has exited, only its parent has not reaped it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):  # gone (the read raced with its exit)
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def _all_gone(pids: list[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


async def _exists(path: Path) -> bool:
    return path.exists()


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPool]:
    pool = ProcessPool(2, grace=0.2)
    pool.start()
    yield pool
    pool.close()


def test_process_and_process_pool_name_the_process_worker() -> None:
    assert worker_class("process") is worker_class("process_pool") is ProcessPoolWorker
    assert ProcessPoolWorker.kind == "process"


async def test_children_are_started_once_and_reused(pool: ProcessPool) -> None:
    started = pool.pids
    assert len(started) == 2
    seen = {await pool.run(os.getpid, (), {}, None) for _ in range(20)}
    assert seen <= set(started)
    assert pool.pids == started


async def test_a_dead_child_fails_its_call_and_is_replaced(pool: ProcessPool) -> None:
    before = pool.pids
    with pytest.raises(WorkerProcessDiedError, match=r"died \(exit code 3\)"):
        await pool.run(os._exit, (3,), {}, None)
    after = pool.pids
    assert len(after) == 2 and len(set(after) - set(before)) == 1
    assert await pool.run(tasks.add, (2, 3), {}, None) == 5


async def test_a_call_past_its_timeout_is_killed_even_in_c(pool: ProcessPool, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with pytest.raises(TaskTimeoutError):
        await pool.run(tasks.slow_with_marker, (str(marker), 60, str(tmp_path / "log")), {}, 0.5)
    victim = int(marker.read_text(encoding="utf-8"))
    assert not _alive(victim) and victim not in pool.pids
    with pytest.raises(TaskTimeoutError):
        await pool.run(tasks.sleep_in_c, (60,), {}, 0.2)
    assert len(pool.pids) == 2


async def test_cancelling_a_call_kills_its_child(pool: ProcessPool, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    call = asyncio.create_task(
        pool.run(tasks.wait_for_release, (str(marker), str(tmp_path / "never")), {}, None)
    )
    await eventually(lambda: _exists(marker))
    victim = int(marker.read_text(encoding="utf-8"))
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not _alive(victim)
    assert victim not in pool.pids and len(pool.pids) == 2
    assert await pool.run(tasks.add, (1, 1), {}, None) == 2


async def test_close_leaves_no_child_process(tmp_path: Path) -> None:
    pool = ProcessPool(3, grace=0.2)
    pool.start()
    marker = tmp_path / "started"
    busy = asyncio.create_task(
        pool.run(tasks.wait_for_release, (str(marker), str(tmp_path / "never")), {}, None)
    )
    await eventually(lambda: _exists(marker))
    pids = pool.pids
    pool.close()
    # Reaped, not merely killed: no zombie is left behind either.
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    busy.cancel()
    with pytest.raises(asyncio.CancelledError):
        await busy


async def test_the_callers_task_context_reaches_the_child(pool: ProcessPool) -> None:
    context = TaskContext(task_id="t-1", attempt=2, max_attempts=4, queue="q", func="f")
    token = enter_task(context)
    try:
        assert await pool.run(tasks.whoami, (), {}, None) == ["t-1", 2, 4]
        assert await pool.run(tasks.async_whoami, (), {}, None) == ["t-1", 2, 4]
    finally:
        leave_task(token)
    with pytest.raises(RuntimeError, match="only available inside a task"):
        await pool.run(tasks.whoami, (), {}, None)


async def test_errors_come_back_with_the_childs_traceback(pool: ProcessPool) -> None:
    with pytest.raises(KeyError) as caught:
        await pool.run(tasks.fail, ("nope", "KeyError"), {}, None)
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "testing/tasks.py" in str(caught.value.__cause__)


async def test_an_unpicklable_value_is_refused_with_its_type(pool: ProcessPool) -> None:
    value = await pool.run(tasks.unpicklable_result, (), {}, None)
    assert isinstance(value, UnsendableValue)
    assert "_thread.lock" in value.message


async def test_an_unpicklable_result_sends_the_task_to_dead_at_once() -> None:
    async with AsyncOmniQ("memory://unpicklable", poll_interval=0.02) as app:
        task_id = await app.enqueue(tasks.unpicklable_result, max_retries=3)
        await app.start_worker("process", max_workers=1)
        result = await app.get_result(task_id, timeout=60)
        await app.stop_worker()
    assert result is not None and result.error is not None
    assert (result.status, result.attempts) == (ResultStatus.ERROR, 1)
    assert result.error.type == "omniq.core.errors.SerializationError"
    assert "_thread.lock" in result.error.message


_ORPHAN_PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from omniq.core import AsyncOmniQ
    from omniq.core.testing import tasks
    from omniq.core.worker import ProcessPoolWorker

    async def main(pids: str, marker: str) -> None:
        async with AsyncOmniQ("memory://orphans", poll_interval=0.02) as app:
            await app.enqueue(tasks.wait_for_release, {"marker": marker, "release": marker + ".never"})
            worker = ProcessPoolWorker(app.task_queue, app.result_store, max_workers=2, settings=app.settings)
            await worker.start()
            Path(pids).write_text(" ".join(map(str, worker.pids)))
            await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_children_exit_when_the_worker_process_is_killed(tmp_path: Path) -> None:
    pids_file, marker = tmp_path / "pids", tmp_path / "started"
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT, str(pids_file), str(marker)])
    try:
        await eventually(lambda: _exists(marker))
        await eventually(lambda: _exists(pids_file))
        pids = [int(pid) for pid in pids_file.read_text(encoding="utf-8").split()]
        assert int(marker.read_text(encoding="utf-8")) in pids  # one child is busy, one idle
        assert all(_alive(pid) for pid in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    await eventually(lambda: _all_gone(pids))
