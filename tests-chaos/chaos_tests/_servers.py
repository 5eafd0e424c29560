"""Servers of a test's own, on free loopback ports, for tests that crash or restart them.

The shared PostgreSQL and Redis servers are never stopped: later tests and CI need them. These
servers run with the durability a production user would choose (Redis with an append-only file
synced on every write; PostgreSQL with its defaults, fsync on) and are stopped and deleted in a
``finally`` by whoever starts them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

__all__ = ["PostgresCluster", "RedisServer", "free_port"]

PG_BIN = Path(os.environ.get("OMNIQ_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
READY_WITHIN = 60.0


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _binary(path: Path | str) -> str:
    found = shutil.which(str(path))
    if found is None:
        raise RuntimeError(f"{path} is not installed; the broker-restart tests need it (they never skip)")
    return found


class RedisServer:
    """``redis-server`` in ``directory`` with ``appendonly yes, appendfsync always``: every write it
    acknowledged is on disk, so a SIGKILL loses none of them. Restarted on the same port and
    directory, it loads its append-only file back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers with its data loaded."""
        command = [
            _binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command)
        client: Any = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + READY_WITHIN
        try:
            while True:
                try:
                    if client.ping() and client.info("persistence")["loading"] == 0:
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start: {self.log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def crash(self) -> None:
        """SIGKILL the server, as the OOM killer would, and reap it."""
        self.stop(signal.SIGKILL)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server with ``sig`` (SIGKILL if it does not exit)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for error messages."""
        return _tail(self.directory / "redis.log", lines)


class PostgresCluster:
    """A PostgreSQL cluster made by ``initdb`` in a temporary directory: trust authentication, a free
    loopback port, its socket in that directory. As root, the server binaries run as the
    ``postgres`` user (``initdb`` and ``postgres`` refuse to run as root)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="omniq-chaos-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        """The URL of the cluster's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        """``initdb``: a new cluster (not synced to disk: a server crash is tested, not an OS crash)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "-N")  # fmt: skip

    def start(self) -> None:
        """``pg_ctl start``, waiting until the server accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", str(int(READY_WITHIN)),
                  "-l", str(self.directory / "server.log"), "-o", options)  # fmt: skip

    def restart_immediately(self) -> None:
        """``pg_ctl restart -m immediate``: every server process quits without a checkpoint (as in a
        crash; the next start replays the WAL), then the server starts again with the same options."""
        self._run("pg_ctl", "restart", "-D", str(self.data), "-m", "immediate", "-w",
                  "-t", str(int(READY_WITHIN)), "-l", str(self.directory / "server.log"))  # fmt: skip

    def remove(self) -> None:
        """Stop the server (if it runs) and delete the cluster."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for error messages."""
        return _tail(self.directory / "server.log", lines)

    def _run(self, program: str, *args: str) -> None:
        # pg_ctl leaves the server running with whatever output it was given: a file, not a pipe
        # that would keep this call waiting for the server to exit.
        output = self.directory / "pg_ctl.out"
        with output.open("ab") as sink:
            done = subprocess.run(
                [_binary(PG_BIN / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                timeout=READY_WITHIN * 2,
                check=False,
                **self._as,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed: {_tail(output, 20)} {self.log_tail()}")


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path.name})"
