"""Fixtures for the Redis backend's tests: the shared test server, a fresh key prefix per test.

The server comes from ``OMNIQ_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``). If it is
unreachable the tests fail (they never skip). Every key a test wrote is deleted after it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from omniq.redis import RedisBackend

DEFAULT_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def server_url() -> str:
    """The test server's URL, without options."""
    return os.environ.get("OMNIQ_TEST_REDIS_URL", DEFAULT_URL)


@pytest.fixture
def prefix(server_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted after the test."""
    name = f"omniq-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_prefix(server_url, name)


@pytest.fixture
def short_prefix(server_url: str) -> Iterator[str]:
    """A prefix as long as the default one (``omniq``), for tests that count bytes (key names
    count); one no key uses yet, its keys deleted after the test."""
    client = redis.Redis.from_url(server_url)
    try:
        while True:
            name = f"q{uuid.uuid4().hex[:4]}"
            if next(iter(client.scan_iter(match=f"\\{{{name}\\}}:*", count=1000)), None) is None:
                break
    finally:
        client.close()
    yield name
    delete_prefix(server_url, name)


def delete_prefix(url: str, name: str) -> None:
    """Delete every key of ``{name}:...`` (SCAN by pattern, then DEL)."""
    client = redis.Redis.from_url(url)
    try:
        pattern = "\\{" + name + "\\}:*"
        batch = list(client.scan_iter(match=pattern, count=1000))
        while batch:
            client.delete(*batch[:1000])
            batch = batch[1000:] or list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@pytest.fixture
def redis_url(server_url: str, prefix: str) -> str:
    """The test server's URL with the test's prefix."""
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}prefix={prefix}"


@pytest_asyncio.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    """An open backend under the test's prefix."""
    async with RedisBackend(redis_url) as opened:
        yield opened


class RedisServer:
    """A ``redis-server`` of the test's own on a free loopback port, stopped at the end.

    Tests that restart, reconfigure or kill clients of a server use one of these, never the shared
    server that other tests and CI need.
    """

    def __init__(self, directory: Path, *extra: str) -> None:
        self.directory = directory
        self.port = _free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers (and has loaded its AOF)."""
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--logfile", str(self.directory / "redis.log"), *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(command)
        client: Any = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    if client.ping() and client.info("persistence")["loading"] == 0:
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: a clean shutdown; SIGKILL: a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start servers of the test's own (``own_server(*redis_server_args)``); all stop after it."""
    servers: list[RedisServer] = []

    def start(*extra: str) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(directory, *extra)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)
