"""The test kit: the fixtures and ``drain`` run enqueued tasks to their end, retries included."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniq.core import AsyncOmniQ, OmniQ, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testkit import drain, drain_blocking


async def test_drain_runs_every_task_to_its_end(omniq_app: AsyncOmniQ, tmp_path: Path) -> None:
    add = omniq_app.task(tasks.add)
    flaky = omniq_app.task(max_retries=3, retry_delay=0.01)(tasks.fail_until)
    done = await add.enqueue(1, 2)
    retried = await flaky.enqueue(str(tmp_path / "runs"), 3)
    doomed = await omniq_app.task(max_retries=1, retry_delay=0)(tasks.fail).enqueue()
    await drain(omniq_app)
    assert (await omniq_app.get_result(done)).value == 3  # type: ignore[union-attr]
    result = await omniq_app.get_result(retried)
    assert result is not None and (result.value, result.attempts) == (3, 3)
    assert (await omniq_app.get_task(doomed)).status is TaskStatus.DEAD  # type: ignore[union-attr]
    assert omniq_app._worker is None  # the worker it started is stopped again


async def test_drain_names_what_cannot_finish_in_time(omniq_app: AsyncOmniQ) -> None:
    later = await omniq_app.task(tasks.add).options(run_in=3600).enqueue(1, 1)
    with pytest.raises(TimeoutError, match=later):
        await drain(omniq_app, timeout=0.2)


def test_the_blocking_app_drains_too(omniq_blocking_app: OmniQ) -> None:
    add = omniq_blocking_app.task(tasks.add)
    task_id = add.enqueue(2, 3)
    drain_blocking(omniq_blocking_app)
    result = omniq_blocking_app.get_result(task_id)
    assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 5)
