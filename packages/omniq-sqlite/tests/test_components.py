import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError, OmniQ, ThreadPoolWorker
from omniq.core.memory import MemoryBackend
from omniq.core.sync_components import SyncWorker
from omniq.core.testing import tasks
from omniq.core.testing.components import ComponentTests, ComponentTypes
from omniq.sqlite import (
    AsyncSQLiteEventStorage,
    AsyncSQLiteResultStorage,
    AsyncSQLiteTaskQueue,
    SQLiteBackend,
    SQLiteEventStorage,
    SQLiteResultStorage,
    SQLiteTaskQueue,
)


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute(f"SELECT count(*) FROM omniq_{table}").fetchone()
    return int(count)


def test_each_component_lands_on_its_own_backend(tmp_path: Path) -> None:
    results = uuid.uuid4().hex
    with OmniQ(
        task_queue=f"sqlite:///{tmp_path}/tasks.db",
        result_store=f"memory://{results}",
        event_store=f"sqlite:///{tmp_path}/events.db",
    ) as oq:
        task_id = oq.enqueue(tasks.add, {"a": 1, "b": 2})
        oq.start_worker("thread")
        assert oq.get_result(task_id, timeout=30).value == 3  # type: ignore[union-attr]
        assert [e.type.value for e in oq.events(task_id)][:1] == ["enqueued"]
    assert (_count(tmp_path / "tasks.db", "tasks"), _count(tmp_path / "tasks.db", "results")) == (1, 0)
    assert _count(tmp_path / "tasks.db", "events") == 0
    assert (_count(tmp_path / "events.db", "tasks"), _count(tmp_path / "events.db", "results")) == (0, 0)
    assert _count(tmp_path / "events.db", "events") >= 3
    assert MemoryBackend(results)._s.results.keys() == {task_id}


def test_the_same_split_from_a_yaml_file(tmp_path: Path) -> None:
    results = uuid.uuid4().hex
    (tmp_path / "omniq.yaml").write_text(
        f"project_name: shop\n"
        f"base_dir: {tmp_path}\n"
        f"task_queue: {{type: sqlite}}\n"
        f"result_store: memory://{results}\n"
        f"event_store: {{type: sqlite, config: {{project_name: events, busy_timeout: 1000}}}}\n"
    )
    with OmniQ.from_config_file(tmp_path / "omniq.yaml") as oq:
        task_id = oq.enqueue(tasks.add, {"a": 2, "b": 2})
        oq.start_worker("thread")
        assert oq.get_result(task_id, timeout=30).value == 4  # type: ignore[union-attr]
        oq.events(task_id)  # flushes the events
    assert _count(tmp_path / "shop.db", "tasks") == 1 and _count(tmp_path / "shop.db", "events") == 0
    assert _count(tmp_path / "events.db", "events") >= 3
    assert MemoryBackend(results)._s.results.keys() == {task_id}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"busy_timeout": "soon"}, "task_queue.config.busy_timeout='soon' is invalid: expected int"),
        ({"busy_timeout": -1}, "busy_timeout must be zero or more milliseconds"),
        ({"base_directory": "x"}, "unknown key 'base_directory' in task_queue.config; expected one of: path"),
    ],
)
def test_bad_sqlite_options_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncOmniQ.from_dict({"task_queue": {"type": "sqlite", "config": config}})


def test_sqlite_type_defaults_to_the_settings_file(tmp_path: Path) -> None:
    app = AsyncOmniQ.from_dict(
        {"base_dir": str(tmp_path), "project_name": "p", "task_queue": {"type": "sqlite"}}
    )
    assert isinstance(app.task_queue, SQLiteBackend) and app.task_queue.path == tmp_path / "p.db"
    assert app.result_store is app.task_queue


def test_from_backend_serves_every_role_over_one_connection(tmp_path: Path) -> None:
    backend = SQLiteBackend(project_name="shop", base_dir=tmp_path)
    with OmniQ.from_backend(backend, worker_type="thread_pool", worker_config={"max_workers": 4}) as oq:
        assert (
            oq.aio.task_queue is backend and oq.aio.result_store is backend and oq.aio.event_store is backend
        )
        task_id = oq.enqueue(tasks.add, {"a": 3, "b": 4})
        oq.start_worker()
        assert oq.get_result(task_id, timeout=30).value == 7  # type: ignore[union-attr]
    assert _count(tmp_path / "shop.db", "results") == 1


def test_blocking_components_and_a_worker_built_from_them(tmp_path: Path) -> None:
    options: dict[str, Any] = {"base_dir": tmp_path, "project_name": "parts"}
    with SQLiteTaskQueue(**options) as queue, SQLiteResultStorage(**options) as results:
        with OmniQ(task_queue=queue, result_store=results, event_store=False) as oq:
            task_id = oq.enqueue(tasks.add, {"a": 1, "b": 1})
        with SyncWorker.create("thread", queue=queue, result_store=results, max_workers=20):
            assert results.wait_for_result(task_id, 30) is not None
        assert queue.count_tasks()["default"] == {"completed": 1}
    with SQLiteEventStorage.from_dict({"base_dir": str(tmp_path), "project_name": "parts"}) as events:
        assert events.query_events() == []


async def test_async_components_and_a_worker_built_from_them(tmp_path: Path) -> None:
    path = tmp_path / "async.db"
    async with (
        AsyncSQLiteTaskQueue(path) as queue,
        AsyncSQLiteResultStorage(path) as results,
        AsyncSQLiteEventStorage(path) as events,
    ):
        async with AsyncOmniQ(task_queue=queue, result_store=results, event_store=events) as app:
            task_id = await app.enqueue(tasks.add, {"a": 4, "b": 4})
            async with ThreadPoolWorker(
                queue=queue, result_store=results, event_store=events, max_workers=20
            ):
                result = await app.get_result(task_id, timeout=30)
        assert result is not None and result.value == 8
        assert {record.type for record in await events.query_events(task_id=task_id)} >= {
            "enqueued",
            "completed",
        }


def test_component_classes_read_their_role_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIQ_RESULT_STORAGE_URL", f"sqlite:///{tmp_path}/results.db")
    queue = AsyncSQLiteTaskQueue.from_dict({"task_queue": f"sqlite:///{tmp_path}/tasks.db"})
    assert repr(queue) == f"AsyncSQLiteTaskQueue(SQLiteBackend({str(tmp_path / 'tasks.db')!r}))"
    results = AsyncSQLiteResultStorage.from_env()
    assert results.backend.path == tmp_path / "results.db"  # type: ignore[attr-defined]
    (tmp_path / "omniq.yaml").write_text(f"event_store: sqlite:///{tmp_path}/events.db\n")
    events = SQLiteEventStorage.from_config_file(tmp_path / "omniq.yaml")
    assert events.aio.backend.path == tmp_path / "events.db"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="AsyncSQLiteTaskQueue needs a SQLiteBackend"):
        AsyncSQLiteTaskQueue.from_dict({"task_queue": "memory://x"})


class TestSQLiteComponents(ComponentTests):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/components.db"

    @pytest.fixture
    def component_types(self) -> ComponentTypes:
        return AsyncSQLiteTaskQueue, AsyncSQLiteResultStorage, SQLiteTaskQueue
