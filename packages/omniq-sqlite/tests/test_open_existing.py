"""``open_existing``: read-only tools open a database that exists and never create one."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from omniq.core import AsyncOmniQ, StoreNotFoundError
from omniq.core.errors import ConfigurationError
from omniq.sqlite import SQLiteBackend
from omniq.sqlite._schema import SCHEMA_VERSION

#: File names that SQLite's URI syntax would misread if they were not encoded.
AWKWARD_NAMES = ["what?.db", "hash#tag.db", "100%.db", "file:jobs.db", "a?b#c%d&mode=ro.db"]


def _url(path: Path) -> str:
    return f"sqlite:///{quote(str(path))}"


async def test_a_missing_file_is_an_error_naming_it_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "missing.db"
    with pytest.raises(StoreNotFoundError, match=f"no OmniQ database at {path}"):
        await SQLiteBackend.from_url(_url(path)).open_existing()
    assert list(tmp_path.iterdir()) == []  # not the file, not its directory


@pytest.mark.parametrize("content", [b"", None])
async def test_a_file_without_omniq_tables_is_refused_and_left_as_it_was(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "other.db"
    if content is None:  # another application's database
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(StoreNotFoundError, match=f"{path} holds no OmniQ database"):
        await SQLiteBackend(path).open_existing()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
async def test_awkward_file_names_are_file_names(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{quote(name)}"
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        await SQLiteBackend.from_url(url).open_existing()
    async with AsyncOmniQ(url) as writer:
        task_id = await writer.enqueue("jobs:double", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == [name]  # that very name, nothing else
    reader = AsyncOmniQ(url)
    try:
        await reader.open_existing()
        assert await reader.get_task(task_id) is not None
    finally:
        await reader.close()


async def test_an_application_opens_nothing_when_one_store_is_missing(tmp_path: Path) -> None:
    tasks, results = tmp_path / "tasks.db", tmp_path / "results.db"
    async with SQLiteBackend(tasks):
        pass
    app = AsyncOmniQ(task_queue=_url(tasks), result_store=_url(results), event_store=False)
    with pytest.raises(StoreNotFoundError, match=str(results)):
        await app.open_existing()
    assert not results.exists()
    queue = app.task_queue
    assert isinstance(queue, SQLiteBackend)
    with pytest.raises(RuntimeError, match="is not open"):
        await queue.get_task("0" * 32)  # the store that did open was closed again


async def test_a_component_given_open_stays_open_when_another_store_is_missing(tmp_path: Path) -> None:
    async with SQLiteBackend(tmp_path / "tasks.db") as queue:
        app = AsyncOmniQ(task_queue=queue, result_store=_url(tmp_path / "missing.db"), event_store=False)
        with pytest.raises(StoreNotFoundError):
            await app.open_existing()
        assert await queue.get_task("0" * 32) is None  # still open: its owner closes it


def _set_version(path: Path, version: int) -> list[tuple[str, str]]:
    """Mark the file's schema as ``version``; returns its schema (every table and index), unchanged."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE omniq_schema_version SET version = ?", (version,))
        schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return schema


def _stored(path: Path) -> tuple[list[tuple[int]], list[tuple[str, str]]]:
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT version FROM omniq_schema_version").fetchall()
        schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return version, schema


@pytest.mark.parametrize(
    ("offset", "words"), [(-1, "older than .*start a worker .*omniq worker"), (1, "newer than .* upgrade")]
)
async def test_a_file_of_another_schema_version_is_refused_and_not_migrated(
    tmp_path: Path, offset: int, words: str
) -> None:
    path = tmp_path / "jobs.db"
    async with SQLiteBackend(path):
        pass
    version = SCHEMA_VERSION + offset
    schema = _set_version(path, version)
    with pytest.raises(ConfigurationError, match=f"schema version {version}, {words}"):
        await SQLiteBackend(path).open_existing()
    assert _stored(path) == ([(version,)], schema)  # no DDL ran, the version is as it was


async def test_a_file_a_writer_migrated_opens_for_reading(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with SQLiteBackend(path):
        pass
    _set_version(path, SCHEMA_VERSION - 1)
    async with SQLiteBackend(path):  # a worker or an enqueue of this release migrates it
        pass
    reader = SQLiteBackend(path)
    await reader.open_existing()
    await reader.close()
    assert _stored(path)[0] == [(SCHEMA_VERSION,)]
