"""Conformance tests of a backend's component classes (the plan's component style).

A backend that offers ``Async<Name>TaskQueue``, ``Async<Name>ResultStorage`` and the blocking
``<Name>TaskQueue`` subclasses :class:`ComponentTests` and overrides ``component_types``::

    class TestFooComponents(ComponentTests):
        @pytest.fixture
        def component_types(self):
            return AsyncFooTaskQueue, AsyncFooResultStorage, FooTaskQueue
"""

from __future__ import annotations

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.components import ResultStorageView, TaskQueueView
from omniq.core.sync import OmniQ
from omniq.core.sync_components import TaskQueueTwin
from omniq.core.testing import tasks
from omniq.core.testing._support import TASK_MODULES, ConformanceFixtures

__all__ = ["ComponentTests", "ComponentTypes"]

ComponentTypes = tuple[type[TaskQueueView], type[ResultStorageView], type[TaskQueueTwin]]


class ComponentTests(ConformanceFixtures):
    """Each component class serves its one role on the test's store, async and blocking."""

    @pytest.fixture
    def component_types(self) -> ComponentTypes:
        """The backend's async task queue, async result storage and blocking task queue classes."""
        raise NotImplementedError("override the component_types fixture in the backend's test class")

    async def test_component_classes_serve_one_role_each(
        self, backend_url: str, component_types: ComponentTypes
    ) -> None:
        queue_type, results_type, _ = component_types
        queue, results = queue_type.from_url(backend_url), results_type.from_url(backend_url)
        async with (
            queue,
            results,
            AsyncOmniQ(
                task_queue=queue, result_store=results, event_store=False, task_modules=[TASK_MODULES]
            ) as app,
        ):
            task_id = await app.enqueue(tasks.add, {"a": 2, "b": 3})
            await app.start_worker()
            result = await app.get_result(task_id, timeout=60)
            assert result is not None and result.value == 5
            await app.stop_worker()

    def test_the_blocking_twin_works_without_a_loop(
        self, backend_url: str, component_types: ComponentTypes
    ) -> None:
        _, _, twin_type = component_types
        with (
            twin_type(twin_type.async_type.from_url(backend_url)) as queue,
            OmniQ(task_queue=queue, result_store="memory://twin", event_store=False) as oq,
        ):
            task_id = oq.enqueue(tasks.add, {"a": 1, "b": 1})
            assert queue.get_task(task_id) is not None
