"""The application's workers: one in the background of its loop, or one run until a signal."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Sequence

from omniq.core._app_base import AppBase
from omniq.core.worker import BaseWorker, worker_class

__all__ = ["AppWorkers"]


class AppWorkers(AppBase):
    """Running tasks in this process, on this application's components."""

    def _new_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> BaseWorker:
        """A new worker on this application's components (not started)."""
        cls = worker_class(worker_type or self.settings.default_worker)
        return cls(
            self.task_queue,
            self.result_store,
            queues=queues,
            max_workers=max_workers,
            settings=self.settings,
            functions=self.functions,
            events=self.recorder,
            callbacks=self.callbacks,
        )

    async def start_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        """Start a worker in the background of this event loop (one per application)."""
        if self._worker is not None:
            raise RuntimeError("this application already runs a worker; stop_worker() it first")
        await self.open()
        worker = self._new_worker(worker_type, max_workers=max_workers, queues=queues)
        await worker.start()
        self._worker = worker

    async def run_worker(
        self,
        worker_type: str | None = None,
        *,
        max_workers: int | None = None,
        queues: Sequence[str] | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Run a worker until SIGINT/SIGTERM (graceful stop) or until :meth:`stop_worker`."""
        await self.start_worker(worker_type, max_workers=max_workers, queues=queues)
        worker = self._worker
        assert worker is not None
        handled: list[signal.Signals] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, worker.on_stop_signal)
                handled.append(signum)
        try:
            await worker.run()
        finally:
            for signum in handled:
                asyncio.get_running_loop().remove_signal_handler(signum)
            if self._worker is worker:
                self._worker = None

    def request_worker_stop(self, *, force: bool = False) -> None:
        """Ask a running worker to stop: gracefully, or with ``force`` releasing running tasks at
        once (safe from signal handlers in the loop)."""
        if self._worker is not None:
            self._worker.request_stop(force=force)

    def _on_stop_signal(self) -> None:
        if self._worker is not None:
            self._worker.on_stop_signal()
