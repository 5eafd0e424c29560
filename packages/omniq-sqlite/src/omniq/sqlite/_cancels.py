"""Cancellations pushed to the worker running the task, between processes on one machine.

A worker watching for cancellations binds a Unix datagram socket named after its worker id, in a
directory of its own user's named after the database file (beside the wake-up sockets of
:mod:`omniq.sqlite._wakeup`, not among them). A process that cancelled a running task sends the
task's id to the socket of the worker the task was leased to, after the commit. A worker that
cannot be reached (another user, another machine, no Unix sockets) learns at its next heartbeat.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from omniq.sqlite._wakeup import bind_private, channel_directory, unbind, unbound_sender

__all__ = ["CancelChannel", "receive"]

#: Longer than any task id a worker can hold (ids are at most 255 characters).
_DATAGRAM = 1024


class CancelChannel:
    """The cancellation sockets of one database file, one per watching worker."""

    def __init__(self, database: Path) -> None:
        self.directory = channel_directory(database, "-cancels")

    def _path(self, worker_id: str) -> Path:
        return self.directory / hashlib.sha256(worker_id.encode()).hexdigest()[:24]

    @contextlib.contextmanager
    def listening(self, worker_id: str) -> Iterator[socket.socket | None]:
        """The worker's socket while in the block (readable when a cancel arrived); ``None``
        without a channel."""
        path = self._path(worker_id)
        sock = bind_private(path)
        try:
            yield sock
        finally:
            if sock is not None:
                unbind(sock, path)

    def send(self, worker_id: str, task_id: str) -> None:
        """Tell the worker ``worker_id``, if it listens, that ``task_id`` was cancelled; never raises."""
        path = self._path(worker_id)
        try:
            unbound_sender().sendto(task_id.encode(), str(path))
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                path.unlink()  # the socket of a worker that died without closing it
        except OSError:
            return  # nobody listens there, or its buffer is full: the next heartbeat tells it


def receive(sock: socket.socket, on_cancel: Callable[[str], None]) -> None:
    """Pass every task id waiting on ``sock`` to ``on_cancel``."""
    while True:
        try:
            datagram = sock.recv(_DATAGRAM)
        except OSError:  # BlockingIOError: nothing more to read
            return
        on_cancel(datagram.decode(errors="replace"))
