"""Redis URIs: parsing, OmniQ's own options, and errors that name the server without its password."""

from __future__ import annotations

import pytest

from omniq.core.errors import ConfigurationError
from omniq.core.registry import open_url
from omniq.redis import RedisBackend, RedisUnavailableError
from omniq.redis._url import parse_url


@pytest.mark.parametrize(
    ("url", "client_url", "prefix"),
    [
        ("redis://localhost", "redis://localhost", "omniq"),
        ("redis://:pw@host:6380/2?prefix=app", "redis://:pw@host:6380/2", "app"),
        ("rediss://host/0?prefix=p&socket_timeout=3", "rediss://host/0?socket_timeout=3", "p"),
        ("unix:///run/redis.sock?db=1&prefix=u", "unix:///run/redis.sock?db=1", "u"),
    ],
)
def test_omniq_options_are_taken_out_of_the_query(url: str, client_url: str, prefix: str) -> None:
    parsed_url, options = parse_url(url, {})
    assert (parsed_url, options.prefix) == (client_url, prefix)


def test_keyword_options_win_over_the_query() -> None:
    _, options = parse_url("redis://h/0?prefix=a&events_maxlen=10", {"prefix": "b"})
    assert (options.prefix, options.events_maxlen) == ("b", 10)


def test_every_scheme_is_served_by_the_backend() -> None:
    for url in ("redis://h", "rediss://h", "unix:///tmp/r.sock"):
        assert isinstance(open_url(url), RedisBackend)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://:secret@h:notaport/0", "port is not a number"),
        ("redis://:secret@h/zero", "database number"),
        ("redis://:secret@h/0?prefix=a{b}", "braces"),
        ("redis://:secret@h/0?events_maxlen=many", "events_maxlen"),
        ("redis://:secret@h/0?events_maxlen=0", "events_maxlen"),
        ("unix://:secret@", "socket path"),
        ("http://:secret@h/0", "not a Redis URI"),
    ],
)
def test_a_bad_uri_is_one_clear_error_with_the_password_masked(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words) as caught:
        RedisBackend(url)
    assert "secret" not in str(caught.value)


async def test_an_option_redis_py_does_not_know_is_refused_at_open() -> None:
    backend = RedisBackend("redis://:secret@127.0.0.1:1/0?no_such_option=1")
    with pytest.raises(ConfigurationError, match="no_such_option") as caught:
        await backend.open()
    assert "secret" not in str(caught.value)


async def test_a_refused_connection_names_the_address_with_the_password_masked() -> None:
    backend = RedisBackend("redis://user:secret@127.0.0.1:1/0")
    with pytest.raises(RedisUnavailableError, match=r"127\.0\.0\.1:1") as caught:
        await backend.open()
    assert "secret" not in str(caught.value) and "***" in str(caught.value)
    assert "secret" not in repr(backend)


async def test_a_closed_backend_says_so() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await RedisBackend("redis://127.0.0.1:1/0").get_task("x")
