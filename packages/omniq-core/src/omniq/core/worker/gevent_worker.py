"""The gevent worker: plain task functions run as greenlets, coroutine functions on the event loop.

gevent is optional (``pip install omniq-core[gevent]``), so this module imports it only when a
gevent worker starts or the process is patched; importing ``omniq.core`` never loads it.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import ClassVar

from omniq.core.errors import ConfigurationError
from omniq.core.worker.base import BaseWorker, Runner

__all__ = ["GeventWorker", "is_monkey_patched", "monkey_patch", "require_gevent"]

INSTALL_HINT = "pip install omniq-core[gevent]"


def require_gevent() -> None:
    """Raise :class:`ConfigurationError` saying what to install when gevent is missing."""
    try:
        importlib.import_module("gevent")
    except ImportError as exc:
        if exc.name not in ("gevent", "greenlet"):
            raise
        raise ConfigurationError(
            f"the gevent worker needs gevent, which is not installed: {INSTALL_HINT}"
        ) from exc


def monkey_patch() -> None:
    """Make blocking standard-library calls (``time.sleep``, sockets, ``threading``) cooperative.

    Patching is process-wide and cannot be undone, so OmniQ never does it on its own: ``omniq worker
    --type gevent`` calls this before it loads anything else, and a program that runs a gevent
    worker itself calls it first thing, before it imports a backend, starts a thread or creates an
    event loop (a loop made earlier keeps an unpatched selector, and a backend imported earlier keeps
    unpatched threads and queues).

    Raises:
        ConfigurationError: gevent is not installed, or an event loop is already running.
    """
    require_gevent()
    if is_monkey_patched():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigurationError(
            "monkey-patching must happen before the event loop starts: call "
            "omniq.core.worker.gevent_worker.monkey_patch() first thing, or run `omniq worker --type gevent`"
        )
    monkey = importlib.import_module("gevent.monkey")
    monkey.patch_all()


def is_monkey_patched() -> bool:
    """Whether gevent has patched this process (so blocking calls in tasks yield to the hub)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("time"))


class GeventWorker(BaseWorker):
    """Runs each plain task function as a greenlet, up to ``max_workers`` at once.

    The greenlets live on a gevent hub in a thread of its own, so the worker's event loop (claims,
    heartbeats, outcomes) keeps running whatever they do. Timeouts raise ``gevent.Timeout`` in the
    greenlet and cancellation kills it; both take effect when the greenlet yields to the hub, which
    blocking standard-library calls do only in a monkey-patched process (:func:`monkey_patch`,
    ``omniq worker --type gevent``). Coroutine functions run on the worker's event loop, as on
    :class:`~omniq.core.worker.AsyncWorker`.
    """

    kind: ClassVar[str] = "gevent"

    def make_runner(self) -> Runner:
        require_gevent()
        from omniq.core.worker._greenlets import GreenletRunner  # noqa: PLC0415 - gevent is optional

        return GreenletRunner(self.max_workers)
