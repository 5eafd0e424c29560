import asyncio
import inspect
import uuid

import pytest

from omniq.core import AsyncOmniQ, OmniQ, ResultStatus, TaskStatus
from omniq.core.testing import tasks

from . import sample_tasks


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    """Methods and classmethods (``from_dict``, ...), the latter without ``cls``."""
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, lambda m: inspect.isfunction(m) or inspect.ismethod(m))
        if not name.startswith("_")
    }


def test_sync_facade_mirrors_every_async_method_and_signature() -> None:
    async_methods = _public_methods(AsyncOmniQ)
    sync_methods = _public_methods(OmniQ)
    assert set(async_methods) == set(sync_methods)
    for name, signature in async_methods.items():
        sync_signature = sync_methods[name]
        assert list(signature.parameters.values()) == list(sync_signature.parameters.values()), name
        assert getattr(OmniQ, name).__doc__ == getattr(AsyncOmniQ, name).__doc__, name


def test_the_comparison_covers_the_configuration_classmethods() -> None:
    assert {"from_config", "from_dict", "from_config_file", "from_env", "from_backend"} <= set(
        _public_methods(OmniQ)
    )


def test_sync_facade_runs_tasks_on_one_loop() -> None:
    with OmniQ(f"memory://{uuid.uuid4().hex}", poll_interval=0.02) as oq:
        task_id = oq.enqueue(tasks.add, {"a": 2, "b": 3})
        oq.start_worker("thread", max_workers=2)
        result = oq.get_result(task_id, timeout=30)
        assert result is not None and result.value == 5
        assert oq.get_task(task_id) is not None
        oq.stop_worker()


def test_decorated_tasks_enqueue_with_their_defaults_and_stay_callable() -> None:
    assert sample_tasks.multiply(6, 7) == 42
    with sample_tasks.app as oq:
        task_id = sample_tasks.multiply.enqueue(6, 7)
        task = oq.get_task(task_id)
        assert task is not None
        assert (task.queue, task.retry.max_retries, task.func) == (
            "math",
            1,
            f"{sample_tasks.__name__}:multiply",
        )
        greeting = sample_tasks.greet.options(queue_name="people").enqueue("ada")
        oq.start_worker(queues=["math", "people"])
        assert oq.get_result(task_id, timeout=30).value == 42  # type: ignore[union-attr]
        result = oq.get_result(greeting, timeout=30)
        assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, "hello ada")
        assert oq.get_task(greeting).func == "greet"  # type: ignore[union-attr]


def test_calling_the_sync_facade_inside_a_running_loop_is_refused() -> None:
    oq = OmniQ(f"memory://{uuid.uuid4().hex}")

    async def misuse() -> None:
        oq.enqueue(tasks.noop)

    with pytest.raises(RuntimeError, match="AsyncOmniQ"):
        asyncio.run(misuse())
    oq.close()


def test_local_functions_are_refused_at_enqueue() -> None:
    def local() -> None:
        pass

    with OmniQ(f"memory://{uuid.uuid4().hex}") as oq, pytest.raises(ValueError, match="module level"):
        oq.enqueue(local)
    with OmniQ(f"memory://{uuid.uuid4().hex}") as oq:
        assert oq.list_tasks(status=TaskStatus.PENDING) == []
