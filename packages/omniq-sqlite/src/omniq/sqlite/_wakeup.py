"""Wake-ups between processes on one machine that share a database file.

SQLite has no ``NOTIFY``: a process learns of another's commit by reading ``PRAGMA data_version``.
Read often enough for a worker to start a task within milliseconds, that read costs an idle worker
several percent of a core. So each process waiting for tasks binds a Unix datagram socket in a
directory of its own user's named after the database file, and a process that made tasks
claimable sends one byte to each socket there after its commit. The waiter then wakes at once and
reads the data version only now and then, for writers that cannot reach it (another user, another
container, an older release).

Where Unix sockets are missing (Windows) or the directory is not safely ours, there is no channel
and waiters read the data version as often as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import stat
import tempfile
from pathlib import Path

__all__ = ["WakeChannel"]

logger = logging.getLogger("omniq.sqlite")

#: The longest socket path every Unix accepts (``sun_path`` is 104 bytes on macOS, 108 on Linux).
_MAX_SOCKET_PATH = 100


class WakeChannel:
    """The wake-up sockets of one database file: :meth:`listen` to be woken, :meth:`notify` to wake."""

    def __init__(self, database: Path) -> None:
        digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:24]
        self.directory = Path(tempfile.gettempdir(), f"omniq-{_user()}", digest)
        self._socket: socket.socket | None = None
        self._socket_path: Path | None = None
        # The directory's listing, read again only when its modification time changes.
        self._listed_at: int | None = None
        self._peers: list[str] = []

    def listen(self) -> socket.socket | None:
        """This process's socket (bound on first call), readable when woken; ``None`` without a
        channel."""
        if self._socket is not None or not hasattr(socket, "AF_UNIX"):
            return self._socket
        path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}"
        if len(str(path)) > _MAX_SOCKET_PATH:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        if not self._bind(sock, path):
            sock.close()
            return None
        self._socket, self._socket_path = sock, path
        self._listed_at = None
        return sock

    def drain(self) -> None:
        """Read every wake-up waiting on the socket."""
        sock = self._socket
        while sock is not None:
            try:
                sock.recv(64)
            except OSError:  # BlockingIOError: nothing more to read
                return

    def notify(self) -> None:
        """Wake every process listening on this database (this one too); never raises."""
        try:
            modified = os.stat(self.directory).st_mtime_ns
            if modified != self._listed_at:
                own = str(self._socket_path)  # this process's waiters were woken in-process
                self._peers = [entry.path for entry in os.scandir(self.directory) if entry.path != own]
                self._listed_at = modified
        except OSError:
            return  # nobody listens here (any more)
        sender = self._socket or _sender()
        for peer in self._peers:
            try:
                sender.sendto(b"!", peer)
            except (BlockingIOError, InterruptedError):
                pass  # its buffer is full: a wake-up is already waiting there
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    os.unlink(peer)  # the socket of a process that died without closing it
            except OSError:
                pass

    def close(self) -> None:
        """Stop listening and remove this process's socket (idempotent)."""
        sock, self._socket = self._socket, None
        path, self._socket_path = self._socket_path, None
        if sock is not None:
            sock.close()
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only if this was the last socket there

    def _bind(self, sock: socket.socket, path: Path) -> bool:
        for _ in range(2):  # the last process to leave removes the directory: make it again
            if not self._make_directory():
                return False
            try:
                sock.bind(str(path))
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.debug("no wake-up socket at %s (%s); polling instead", path, exc)
                return False
            return True
        return False

    def _make_directory(self) -> bool:
        """Create the directory, private to this user; refuse one another user could write to."""
        parent = self.directory.parent
        try:
            parent.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(parent)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                logger.warning("%s is not a private directory of this user; polling instead", parent)
                return False
            self.directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            logger.debug("no wake-up directory at %s (%s); polling instead", self.directory, exc)
            return False
        return True


_unbound: socket.socket | None = None


def _sender() -> socket.socket:
    """An unbound datagram socket for processes that notify without listening."""
    global _unbound
    if _unbound is None:
        _unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _unbound.setblocking(False)
    return _unbound


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else "user"
