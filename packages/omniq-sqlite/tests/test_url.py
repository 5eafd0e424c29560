"""``sqlite://`` URIs: paths, options, and the errors a user sees for a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniq.core.errors import ConfigurationError
from omniq.core.registry import open_url
from omniq.sqlite import SQLiteBackend
from omniq.sqlite._url import DEFAULT_BUSY_TIMEOUT_MS, parse_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///omniq.db", "omniq.db"),
        ("sqlite:///data/jobs/omniq.db", "data/jobs/omniq.db"),
        ("sqlite:////var/lib/omniq/omniq.db", "/var/lib/omniq/omniq.db"),
        ("SQLite:////tmp/with%20space.db", "/tmp/with space.db"),
    ],
)
def test_path_is_relative_with_three_slashes_and_absolute_with_four(url: str, path: str) -> None:
    parsed_path, options = parse_url(url, {})
    assert parsed_path == Path(path)
    assert options.busy_timeout == DEFAULT_BUSY_TIMEOUT_MS


def test_busy_timeout_from_the_query_string_and_from_options() -> None:
    assert parse_url("sqlite:///x.db?busy_timeout=1500", {})[1].busy_timeout == 1500
    assert parse_url("sqlite:///x.db?busy_timeout=1500", {"busy_timeout": 20})[1].busy_timeout == 20


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "names no database file"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///some/dir/", "names no database file"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://:memory:", "in-memory"),
        ("sqlite://localhost/omniq.db", "names a host"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
        ("sqlite:///x.db?busy_timeout=-1", "busy_timeout"),
        ("sqlite:///x.db?journal=off", "journal"),
    ],
)
def test_a_bad_url_is_refused_with_the_url_named(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SQLiteBackend.from_url(url)
    assert message in str(caught.value)
    assert repr(url) in str(caught.value)


def test_the_registry_finds_the_backend_by_its_scheme(tmp_path: Path) -> None:
    backend = open_url(f"sqlite:///{tmp_path}/omniq.db?busy_timeout=250")
    assert isinstance(backend, SQLiteBackend)
    assert backend.path == tmp_path / "omniq.db"
    assert repr(backend) == f"SQLiteBackend({str(tmp_path / 'omniq.db')!r})"


def test_default_file_follows_base_dir_and_project_name(tmp_path: Path) -> None:
    assert SQLiteBackend(base_dir=tmp_path, project_name="jobs").path == tmp_path / "jobs.db"
    assert SQLiteBackend().path == Path("omniq.db")


async def test_open_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "omniq.db"
    async with SQLiteBackend.from_url(f"sqlite:///{path}") as backend:
        assert await backend.get_task("nothing") is None
    assert path.exists()
