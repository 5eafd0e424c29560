"""Fixtures and helpers shared by the conformance test classes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import pytest_asyncio

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability, capabilities_of
from omniq.core.interfaces import BaseComponent, BaseEventStorage, BaseResultStorage, BaseTaskQueue, TaskAdmin
from omniq.core.models import TaskStatus
from omniq.core.options import RecordFactory, TaskOptions
from omniq.core.pytest_plugin import NotDeclared
from omniq.core.records import Outcome, TaskRecord
from omniq.core.registry import backend_class, open_url
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings

__all__ = [
    "TASK_MODULES",
    "AppFactory",
    "ConformanceFixtures",
    "NotDeclared",
    "admin_of",
    "ending",
    "eventually",
    "make_record",
    "read_runs",
    "requires",
]

TASKS = "omniq.core.testing.tasks"

#: The package of the test tasks: an installed distribution's module, so workers must be told
#: they may run it (see omniq.core.function_policy).
TASK_MODULES = "omniq.core.testing"

#: Settings for fast tests: quick polling; leases long enough that only crash tests see them expire;
#: the test tasks named as task modules (they belong to an installed distribution, omniq-core).
TEST_SETTINGS: dict[str, Any] = {"poll_interval": 0.02, "lease_ttl": 10.0, "task_modules": [TASK_MODULES]}

AppFactory = Callable[..., Awaitable[AsyncOmniQ]]

_serializer = SerializationManager()


def requires(*capabilities: Capability) -> pytest.MarkDecorator:
    """Mark a conformance test (or class) as needing these capabilities of the backend; it runs
    only on backends that declare them (see :mod:`omniq.core.capabilities`)."""
    return pytest.mark.omniq_requires(*capabilities)


def admin_of(queue: BaseTaskQueue) -> TaskAdmin:
    """``queue`` as its ``admin`` capability (in tests marked ``@requires(Capability.ADMIN)``)."""
    assert isinstance(queue, TaskAdmin), f"{queue!r} does not declare the admin capability"
    return queue


def make_record(func: str = f"{TASKS}:noop", *, now: float | None = None, **options: Any) -> TaskRecord:
    """A new task record as ``enqueue`` would build it, for tests of the raw contract."""
    args = options.pop("args", [])
    kwargs = options.pop("kwargs", {})
    factory = RecordFactory(func, TaskOptions(**options), Settings(), time.time() if now is None else now)
    return factory.record(*_serializer.dumps([args, kwargs]))


def ending(task_id: str, status: TaskStatus, at: float, *, token: str = "t") -> Outcome:
    """The outcome that ends a task claimed under ``token`` with ``status`` at ``at``; with an
    error unless it completed."""
    error = None if status is TaskStatus.COMPLETED else '{"type":"ValueError","message":"x","traceback":null}'
    return Outcome(task_id=task_id, lease_token=token, status=status, at=at, error=error)


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 60.0) -> None:
    """Wait until ``check()`` is true; fail after ``within`` seconds (a hang guard, not a bound)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


def read_runs(path: Path) -> list[str]:
    """The keys recorded by :func:`omniq.core.testing.tasks.record_run`, one per execution."""
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line]


class ConformanceFixtures:
    """The fixtures every conformance class uses; a backend's test class overrides ``backend_url``."""

    @pytest.fixture
    def backend_url(self) -> str:
        """The URL of a fresh, empty store for one test. Override this in your subclass."""
        raise NotImplementedError("override the backend_url fixture in the backend's test class")

    @pytest.fixture(autouse=True)
    def _declared_capabilities(self, request: pytest.FixtureRequest, backend_url: str) -> None:
        """Leave out a test marked with :func:`requires` when the backend lacks a capability."""
        needed = {c for marker in request.node.iter_markers("omniq_requires") for c in marker.args}
        if not needed:
            return
        declared = capabilities_of(backend_class(urlsplit(backend_url).scheme))
        missing = sorted(Capability(c).value for c in needed - declared)
        if missing:
            raise NotDeclared(f"the backend does not declare {', '.join(missing)}", allow_module_level=False)

    @pytest_asyncio.fixture
    async def make_app(self, backend_url: str) -> AsyncIterator[AppFactory]:
        """Open applications on the test's store; all are closed after the test."""
        apps: list[AsyncOmniQ] = []

        async def factory(**overrides: Any) -> AsyncOmniQ:
            app = AsyncOmniQ(backend_url, **{**TEST_SETTINGS, **overrides})
            await app.open()
            apps.append(app)
            return app

        yield factory
        for app in reversed(apps):
            await app.close()

    @pytest_asyncio.fixture
    async def app(self, make_app: AppFactory) -> AsyncOmniQ:
        """One open application on the test's store."""
        return await make_app()

    @pytest_asyncio.fixture
    async def component(self, backend_url: str) -> AsyncIterator[BaseComponent]:
        """The raw backend component for the test's store, opened."""
        component = open_url(backend_url)
        await component.open()
        yield component
        await component.close()

    @pytest.fixture
    def queue(self, component: BaseComponent) -> BaseTaskQueue:
        """The component as a task queue."""
        assert isinstance(component, BaseTaskQueue)
        return component

    @pytest.fixture
    def results(self, component: BaseComponent) -> BaseResultStorage:
        """The component as a result store."""
        assert isinstance(component, BaseResultStorage)
        return component

    @pytest.fixture
    def event_storage(self, component: BaseComponent) -> BaseEventStorage:
        """The component as an event store."""
        assert isinstance(component, BaseEventStorage)
        return component


def server_section(backend_type: str, url: str, *, database_key: str, **config: Any) -> dict[str, Any]:
    """A ``{type, config}`` section naming the server of ``url`` by its parts (host, port and the
    database under ``database_key``) plus ``config``: how a user writes the plan's shape."""
    server = urlsplit(url)
    database = unquote(server.path.strip("/"))
    parts = {"host": server.hostname, "port": server.port, database_key: database or None}
    return {"type": backend_type, "config": {**parts, **config}}
