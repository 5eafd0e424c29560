"""``postgresql://`` URIs: options, masking, and the one error a user sees for a bad server."""

from __future__ import annotations

import pytest

from omniq.core.errors import ConfigurationError
from omniq.core.registry import open_url
from omniq.postgres import PostgresBackend
from omniq.postgres._url import DEFAULT_SCHEMA, parse_url


def test_omniq_options_are_taken_out_and_the_rest_goes_to_asyncpg() -> None:
    target, options = parse_url(
        "postgresql://u:pw@db.example:6543/app?schema=jobs&sslmode=prefer&pool_max_size=3&application_name=x",
        {},
    )
    assert (options.schema, options.pool_max_size, options.pool_min_size) == ("jobs", 3, 1)
    assert target.dsn == "postgresql://u:pw@db.example:6543/app?sslmode=prefer&application_name=x"
    assert (target.host, target.port, target.database) == ("db.example", 6543, "app")
    assert target.shown == "postgresql://u:***@db.example:6543/app?sslmode=prefer&application_name=x"
    assert target.query_keys == {"sslmode", "application_name"}


def test_defaults_and_keyword_options_win_over_the_query_string() -> None:
    target, options = parse_url("postgres://localhost", {})
    assert (options.schema, target.port, target.database) == (DEFAULT_SCHEMA, 5432, "(the user's)")
    assert parse_url("postgres://h/db?schema=a", {"schema": "b"})[1].schema == "b"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://h/db", "is not a PostgreSQL URI"),
        ("postgresql://h/db?schema=Bad-Name", "schema 'Bad-Name'"),
        ("postgresql://h/db?schema=", "schema ''"),
        ("postgresql://h/db?pool_max_size=0", "pool sizes"),
        ("postgresql://h/db?pool_min_size=5&pool_max_size=2", "pool sizes"),
        ("postgresql://h/db?pool_max_size=many", "pool_max_size"),
        ("postgresql://h/db?connect_timeout=0", "connect_timeout"),
        ("postgresql://h:notaport/db", "port is not a number"),
        ("postgresql://h/db#frag", "fragment"),
    ],
)
def test_a_bad_url_is_refused_with_the_url_named(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PostgresBackend.from_url(url)


def test_the_password_never_appears_in_errors_or_repr() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PostgresBackend.from_url("postgresql://user:hunter2@h/db?schema=NO")
    assert "hunter2" not in str(caught.value) and "user:***@h" in str(caught.value)
    assert "hunter2" not in repr(PostgresBackend("postgresql://user:hunter2@h/db"))


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_the_registry_finds_the_backend_by_either_scheme(scheme: str) -> None:
    backend = open_url(f"{scheme}://u@h/db?schema=jobs")
    assert isinstance(backend, PostgresBackend)
    assert repr(backend) == f"PostgresBackend('{scheme.lower()}://u@h/db', schema='jobs')"


async def test_a_refused_connection_is_one_clear_error_naming_server_and_database() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    backend = PostgresBackend("postgresql://app:hunter2@127.0.0.1:1/orders")
    with pytest.raises(ConfigurationError) as caught:
        await backend.open()
    message = str(caught.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1, database 'orders'" in message
    assert "app:***@" in message and "hunter2" not in message
    await backend.close()


async def test_an_unknown_database_is_one_clear_error(server_url: str) -> None:
    url = server_url.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(ConfigurationError, match=r"database 'no_such_database_here'.*does not exist"):
        await PostgresBackend(url).open()
