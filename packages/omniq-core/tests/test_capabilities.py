"""A backend with only the required contract: core runs tasks on it, refuses what needs a capability
it lacks with an error naming both, and the conformance suite leaves out the tests that need one."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from omniq.core import AsyncOmniQ
from omniq.core.capabilities import Capability, capabilities_of
from omniq.core.errors import CapabilityError
from omniq.core.interfaces import BaseEventStorage, BaseResultStorage, BaseTaskQueue, TaskAdmin
from omniq.core.memory import MemoryBackend
from omniq.core.registry import register_backend
from omniq.core.testing import tasks
from omniq.core.testing._support import TEST_SETTINGS
from omniq.core.testing.contract import ContractTests
from omniq.core.testing.dependencies import DependencyTests
from omniq.core.testing.maintenance import MaintenanceTests

#: The methods a task queue, result store and event store must have (no capability among them).
_REQUIRED = sorted(
    BaseTaskQueue.__abstractmethods__
    | BaseResultStorage.__abstractmethods__
    | BaseEventStorage.__abstractmethods__
)


def _forward(name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _init(self: Any, url: str = "minimal://") -> None:
    self.inner = MemoryBackend(url.removeprefix("minimal://"))


#: A backend implementing the required methods only (over a memory store).
MinimalBackend: type[BaseTaskQueue] = type(
    "MinimalBackend",
    (BaseTaskQueue, BaseResultStorage, BaseEventStorage),
    {
        **{name: _forward(name) for name in _REQUIRED if name != "from_url"},
        "__init__": _init,
        "__repr__": lambda self: "MinimalBackend()",
        "from_url": classmethod(lambda cls, url, **options: cls(url)),
    },
)
register_backend("minimal", MinimalBackend)


def test_the_required_task_queue_contract_has_at_most_twelve_methods() -> None:
    assert len(BaseTaskQueue.__abstractmethods__) <= 12, sorted(BaseTaskQueue.__abstractmethods__)


def test_capabilities_are_read_from_the_class() -> None:
    assert capabilities_of(MinimalBackend) == {Capability.EVENTS}
    assert capabilities_of(MemoryBackend("x")) == {
        Capability.ADMIN,
        Capability.SCHEDULES,
        Capability.EVENTS,
        Capability.PUSH_WAKEUPS,
        Capability.PUSH_CANCELS,
        Capability.RESULT_WAITS,
    }


async def test_tasks_run_on_a_backend_with_only_the_required_contract() -> None:
    async with AsyncOmniQ(f"minimal://{uuid.uuid4().hex}", **TEST_SETTINGS) as app:
        task_id = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        await app.start_worker("async")
        result = await app.get_result(task_id, timeout=30)
        assert result is not None and result.value == 5


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda app: app.list_tasks(), "admin"),
        (lambda app: app.counts(), "admin"),
        (lambda app: app.purge_dead_letters(), "admin"),
        (lambda app: app.requeue("some-task"), "admin"),
        (lambda app: app.list_schedules(), "schedules"),
    ],
)
async def test_a_call_that_needs_a_missing_capability_names_it_and_the_backend(
    call: Callable[[AsyncOmniQ], Coroutine[Any, Any, Any]], capability: str
) -> None:
    async with AsyncOmniQ(f"minimal://{uuid.uuid4().hex}", **TEST_SETTINGS) as app:
        with pytest.raises(CapabilityError, match=f"MinimalBackend.*'{capability}' capability"):
            await call(app)
    assert not issubclass(MinimalBackend, TaskAdmin)


class TestMinimalBackendConformance(ContractTests, DependencyTests, MaintenanceTests):
    """Tests needing ``admin`` are left out (not failed under ``--fail-on-skip``); the rest pass."""

    @pytest.fixture
    def backend_url(self) -> str:
        return f"minimal://{uuid.uuid4().hex}"
