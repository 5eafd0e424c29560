"""Fixtures for the SQLite backend's own tests: a fresh database file per test."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from omniq.core.models import TaskStatus
from omniq.core.records import TaskRecord
from omniq.sqlite import SQLiteBackend

TaskFactory = Callable[..., TaskRecord]

_clock = itertools.count()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database lives."""
    return tmp_path / "omniq.db"


@pytest_asyncio.fixture
async def backend(db_path: Path) -> AsyncIterator[SQLiteBackend]:
    """An open backend on a new file."""
    async with SQLiteBackend(db_path) as opened:
        yield opened


@pytest.fixture
def make_task() -> TaskFactory:
    """Build task records: pending, due now, in queue ``default`` unless told otherwise."""

    def factory(**fields: Any) -> TaskRecord:
        now = fields.pop("now", time.time())
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "queue": "default",
            "func": "tests:noop",
            "priority": 0,
            "status": TaskStatus.PENDING,
            "due_at": now,
            "created_at": now,
            "updated_at": now,
            "data": f"payload-{next(_clock)}".encode(),
        }
        values.update(fields)
        return TaskRecord(**values)

    return factory
