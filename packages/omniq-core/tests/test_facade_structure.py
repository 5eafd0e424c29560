"""The facade's structure: no import circle through the application, options written once."""

from __future__ import annotations

import ast
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import omniq.core.app
from omniq.core import AsyncOmniQ, OmniQ
from omniq.core.models import TaskStatus
from omniq.core.records import DependencyReport, ResultRecord, TaskRecord
from omniq.core.testing import tasks
from omniq.core.worker._finals import store_finals

CORE = Path(omniq.core.app.__file__).parent
FACADE = ("omniq.core.app", "omniq.core.task_function", "omniq.core.sync")


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every omniq.core module and the omniq.core modules it imports anywhere (type-checking
    imports included: a circle there is still a circle for a reader)."""
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("omniq.core"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("omniq.core"))
        graph[_module_name(path)] = found
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = set(), list(graph.get(start, ()))
    while stack:
        module = stack.pop()
        if module == goal:
            return True
        if module not in seen and module != "omniq.core":  # the package's own re-exports
            seen.add(module)
            stack.extend(graph.get(module, ()))
    return False


def test_no_facade_module_imports_its_way_back_to_itself() -> None:
    graph = _imports()
    for module in FACADE:
        assert not _reaches(graph, module, module), module
    assert not _reaches(graph, "omniq.core.task_function", "omniq.core.app")
    assert not _reaches(graph, "omniq.core.task_function", "omniq.core.sync")


@pytest.mark.parametrize("module", FACADE)
def test_each_facade_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


def test_no_core_module_passes_450_lines() -> None:
    long = {_module_name(path) for path in CORE.rglob("*.py") if len(path.read_text().splitlines()) > 450}
    assert long == set()


async def test_an_unknown_enqueue_option_is_the_usual_type_error() -> None:
    async with AsyncOmniQ(f"memory://{uuid.uuid4().hex}") as app:
        with pytest.raises(TypeError, match="enqueue\\(\\) got an unexpected keyword argument 'queue'"):
            await app.enqueue(tasks.noop, queue="x")  # type: ignore[call-arg]
        with pytest.raises(
            TypeError, match="enqueue_many\\(\\) got an unexpected keyword argument 'dedup_key'"
        ):
            await app.enqueue_many(tasks.noop, [{}], dedup_key="k")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="schedule\\(\\) got an unexpected keyword argument 'run_in'"):
            await app.schedule(tasks.noop, interval=5, run_in=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="task\\(\\) got an unexpected keyword argument 'queue_name'"):
            app.task(queue_name="x")  # type: ignore[call-overload]
        assert await app.counts() == {}


def test_blocking_twins_pass_every_option_on() -> None:
    with OmniQ(f"memory://{uuid.uuid4().hex}") as oq:
        first = oq.enqueue(tasks.noop, queue_name="a", priority=5, dedup_key="k", max_retries=0)
        assert oq.enqueue(tasks.noop, queue_name="a", dedup_key="k") == first
        task = oq.get_task(first)
        assert task is not None and (task.queue, task.priority, task.retry.max_retries) == ("a", 5, 0)
        [second] = oq.enqueue_many(tasks.noop, [{}], queue_name="b", depends_on=[first])
        waiting = oq.get_task(second)
        assert waiting is not None and (waiting.queue, waiting.status) == ("b", TaskStatus.WAITING)
        noop = oq.task(tasks.noop)
        third = noop.options(queue_name="c", priority=-3).enqueue()
        task = oq.get_task(third)
        assert task is not None and (task.queue, task.priority) == ("c", -3)


async def test_final_tasks_and_their_dependents_are_stored_in_one_call() -> None:
    async with AsyncOmniQ(f"memory://{uuid.uuid4().hex}") as app:
        cancelled_id = await app.enqueue(tasks.noop)
        waiting_id = await app.enqueue(tasks.noop, depends_on=[cancelled_id])
        change = await app.task_queue.cancel(cancelled_id, 1.0)
        assert change is not None
        report = await app.task_queue.resolve_dependencies([cancelled_id], 1.0)
    calls: list[list[ResultRecord]] = []
    events: list[str] = []

    async def put(results: list[ResultRecord]) -> None:
        calls.append(results)

    await store_finals(
        [change.task], report, now=2.0, record_event=lambda e: events.append(e.type), put_results=put
    )
    assert [[(r.task_id, r.status) for r in call] for call in calls] == [
        [(cancelled_id, "cancelled"), (waiting_id, "cancelled")]
    ]
    assert events == ["dependency_failed"]
    not_final = TaskRecord(
        id="x", queue="q", func="f", priority=0, status=TaskStatus.PENDING, due_at=0, created_at=0,
        updated_at=0, max_attempts=1, data=b"",
    )  # fmt: skip
    calls.clear()
    await store_finals(
        [not_final],
        DependencyReport(),
        now=2.0,
        record_event=lambda e: events.append(e.type),
        put_results=put,
    )
    assert calls == []


def test_generated_component_classes_keep_their_names_module_and_pickle() -> None:
    import pickle  # noqa: PLC0415

    from omniq.core import memory_components  # noqa: PLC0415
    from omniq.core.backend import component_classes  # noqa: PLC0415
    from omniq.core.components import ComponentView, ScheduledTaskQueueView, TaskQueueView  # noqa: PLC0415
    from omniq.core.interfaces import BaseTaskQueue  # noqa: PLC0415
    from omniq.core.memory import MemoryBackend  # noqa: PLC0415

    queue = memory_components.AsyncMemoryTaskQueue
    assert (queue.__module__, queue.__qualname__) == ("omniq.core.memory_components", "AsyncMemoryTaskQueue")
    assert issubclass(queue, ScheduledTaskQueueView) and queue.backend_type is MemoryBackend
    assert memory_components.MemoryTaskQueue.async_type is queue
    assert memory_components.MemoryEventStorage.__doc__ == "Blocking :class:`AsyncMemoryEventStorage`."
    assert pickle.loads(pickle.dumps(queue)) is queue
    with memory_components.MemoryTaskQueue(name=uuid.uuid4().hex) as blocking:
        assert blocking.count_tasks() == {}

    # A backend that keeps no schedules gets a task queue class without them.
    plain = component_classes(BaseTaskQueue, "Plain", module=__name__, where="nowhere")  # type: ignore[type-abstract]
    assert issubclass(plain.async_task_queue, TaskQueueView)
    assert not issubclass(plain.async_task_queue, ScheduledTaskQueueView)
    assert issubclass(plain.async_result_storage, ComponentView)
