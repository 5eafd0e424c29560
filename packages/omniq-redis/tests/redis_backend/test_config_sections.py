"""``{type: redis, config: {host, port, username, password, db}}``: the plan's shape, from a dict
and from YAML, with a password that holds every URI delimiter (checked by the server's ACL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from omniq.core import AsyncOmniQ, ConfigurationError
from omniq.core.testing import tasks
from omniq.core.testing._support import server_section
from omniq.redis import RedisBackend, RedisUnavailableError

PASSWORD = "p@ss:w/o?r#d%41 x&y=z"


@pytest.fixture
def acl_user(server_url: str, prefix: str) -> Iterator[str]:
    """A server user that needs :data:`PASSWORD`, allowed the test's keys only; deleted after."""
    name = f"omniq-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(server_url)
    try:
        client.acl_setuser(
            name, enabled=True, passwords=[f"+{PASSWORD}"], keys=[f"{{{prefix}}}:*"], commands=["+@all"]
        )
        yield name
    finally:
        client.acl_deluser(name)
        client.close()


def _section(server_url: str, username: str, prefix: str) -> dict[str, Any]:
    return server_section(
        "redis", server_url, database_key="db", username=username, password=PASSWORD, prefix=prefix
    )


async def _works(app: AsyncOmniQ) -> None:
    async with app:
        backend = app.task_queue
        assert isinstance(backend, RedisBackend)
        assert PASSWORD not in repr(backend)
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        assert (await backend.get_task(task_id)) is not None


async def test_a_section_of_server_parts_logs_in_with_an_escaped_password(
    server_url: str, acl_user: str, prefix: str
) -> None:
    await _works(AsyncOmniQ.from_dict({"task_queue": _section(server_url, acl_user, prefix)}))


async def test_the_same_section_works_from_yaml(
    server_url: str, acl_user: str, prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "omniq.yaml"
    path.write_text(yaml.safe_dump({"task_queue": _section(server_url, acl_user, prefix)}), encoding="utf-8")
    await _works(AsyncOmniQ.from_config_file(path))


async def test_a_wrong_password_is_refused_by_the_server(server_url: str, acl_user: str, prefix: str) -> None:
    section = _section(server_url, acl_user, prefix)
    section["config"]["password"] = PASSWORD[:-1]
    with pytest.raises(RedisUnavailableError, match="invalid username-password pair"):
        await _works(AsyncOmniQ.from_dict({"task_queue": section}))


def test_url_and_server_parts_together_are_refused_naming_both() -> None:
    section = {"type": "redis", "config": {"url": "redis://cache:6379/0", "db": 2}}
    with pytest.raises(ConfigurationError, match=r"task_queue\.config: give url or host, .*got url and db\)"):
        AsyncOmniQ.from_dict({"task_queue": section})


def test_an_unknown_key_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'database' in task_queue\.config; expected one of"
    ):
        AsyncOmniQ.from_dict({"task_queue": {"type": "redis", "config": {"database": 2}}})
