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

__all__ = ["WakeChannel", "bind_private", "channel_directory", "unbind", "unbound_sender"]

logger = logging.getLogger("omniq.sqlite")

#: The longest socket path every Unix accepts (``sun_path`` is 104 bytes on macOS, 108 on Linux).
_MAX_SOCKET_PATH = 100


class WakeChannel:
    """The wake-up sockets of one database file: :meth:`listen` to be woken, :meth:`notify` to wake."""

    def __init__(self, database: Path) -> None:
        self.directory = channel_directory(database)
        self._socket: socket.socket | None = None
        self._socket_path: Path | None = None
        # The directory's listing, read again only when its modification time changes.
        self._listed_at: int | None = None
        self._peers: list[str] = []

    def listen(self) -> socket.socket | None:
        """This process's socket (bound on first call), readable when woken; ``None`` without a
        channel."""
        if self._socket is not None:
            return self._socket
        path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}"
        sock = bind_private(path)
        if sock is None:
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
        sender = self._socket or unbound_sender()
        for peer in self._peers:
            try:
                sender.sendto(b"!", peer)
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    os.unlink(peer)  # the socket of a process that died without closing it
            except OSError:
                continue  # its buffer is full (a wake-up already waits there), or it is going away

    def close(self) -> None:
        """Stop listening and remove this process's socket (idempotent)."""
        sock, self._socket = self._socket, None
        path, self._socket_path = self._socket_path, None
        if sock is not None and path is not None:
            unbind(sock, path)


def channel_directory(database: Path, suffix: str = "") -> Path:
    """The directory of a channel's sockets for ``database``, private to this user."""
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir(), f"omniq-{_user()}", digest + suffix)


def bind_private(path: Path) -> socket.socket | None:
    """A non-blocking datagram socket bound at ``path`` in a directory private to this user;
    ``None`` where that cannot be had (no Unix sockets, a path too long, a directory not ours)."""
    if not hasattr(socket, "AF_UNIX") or len(str(path)) > _MAX_SOCKET_PATH:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    for _ in range(2):  # the last process to leave removes the directory: make it again
        if not _make_directory(path.parent):
            break
        try:
            sock.bind(str(path))
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.debug("no socket at %s (%s); polling instead", path, exc)
            break
        return sock
    sock.close()
    return None


def unbind(sock: socket.socket, path: Path) -> None:
    """Close a socket from :func:`bind_private` and remove it (and its directory, if empty)."""
    sock.close()
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only if this was the last socket there


def _make_directory(directory: Path) -> bool:
    """Create ``directory``, private to this user; refuse one another user could write to."""
    parent = directory.parent
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            logger.warning("%s is not a private directory of this user; polling instead", parent)
            return False
        directory.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        logger.debug("no wake-up directory at %s (%s); polling instead", directory, exc)
        return False
    return True


_unbound: socket.socket | None = None


def unbound_sender() -> socket.socket:
    """An unbound datagram socket for processes that notify without listening."""
    global _unbound
    if _unbound is None:
        _unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _unbound.setblocking(False)
    return _unbound


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else "user"
