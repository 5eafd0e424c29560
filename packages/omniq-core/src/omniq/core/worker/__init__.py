"""Workers: claim tasks, run them, record outcomes."""

from omniq.core.worker.async_worker import AsyncWorker
from omniq.core.worker.base import BaseWorker, Runner
from omniq.core.worker.gevent_worker import GeventWorker, require_gevent
from omniq.core.worker.process_worker import ProcessPoolWorker
from omniq.core.worker.thread_worker import ThreadPoolWorker

__all__ = [
    "WORKER_TYPES",
    "AsyncWorker",
    "BaseWorker",
    "GeventWorker",
    "ProcessPoolWorker",
    "Runner",
    "ThreadPoolWorker",
    "worker_class",
]

WORKER_TYPES: dict[str, type[BaseWorker]] = {
    "async": AsyncWorker,
    "thread": ThreadPoolWorker,
    "thread_pool": ThreadPoolWorker,
    "gevent": GeventWorker,
    "process": ProcessPoolWorker,
    "process_pool": ProcessPoolWorker,
}


def worker_class(worker_type: str) -> type[BaseWorker]:
    """The worker class for a type string (``async``, ``thread``/``thread_pool``,
    ``process``/``process_pool``, ``gevent``).

    Raises:
        ValueError: the type is unknown.
        ConfigurationError: its optional dependency (gevent) is not installed.
    """
    try:
        cls = WORKER_TYPES[worker_type]
    except KeyError:
        raise ValueError(
            f"unknown worker type {worker_type!r}; known: {', '.join(sorted(WORKER_TYPES))}"
        ) from None
    if cls is GeventWorker:
        require_gevent()
    return cls
