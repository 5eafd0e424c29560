"""``AsyncOmniQ``: the application object. Everything OmniQ does is reached from here, async.

The class is assembled from one part per job, each in its own module: components and their
lifecycle (:mod:`~omniq.core._app_base`), tasks and enqueueing (:mod:`~omniq.core._app_tasks`),
admin (:mod:`~omniq.core._app_admin`), results and events (:mod:`~omniq.core._app_results`),
schedules (:mod:`~omniq.core._app_schedules`) and workers (:mod:`~omniq.core._app_workers`);
building it from configuration is here, over :mod:`~omniq.core._wiring`. The sync
:class:`~omniq.core.OmniQ` wraps this class method for method.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self, cast

from omniq.core._app_admin import FINAL_STATUSES, AppAdmin
from omniq.core._app_base import (
    EventStoreRef,
    ResultStoreRef,
    TaskQueueRef,
    TaskRef,
    shown_stores,
    stores_repr,
)
from omniq.core._app_results import AppResults
from omniq.core._app_schedules import AppSchedules
from omniq.core._app_tasks import AppTasks
from omniq.core._app_workers import AppWorkers
from omniq.core._wiring import backend_settings, owned_key, wire
from omniq.core.config import OmniQConfig
from omniq.core.interfaces import BaseComponent

__all__ = [
    "FINAL_STATUSES",
    "AsyncOmniQ",
    "EventStoreRef",
    "ResultStoreRef",
    "TaskQueueRef",
    "TaskRef",
    "shown_stores",
]


class AsyncOmniQ(AppTasks, AppAdmin, AppResults, AppSchedules, AppWorkers):
    """A task queue application: enqueue tasks, read results and events, run workers.

    Args:
        url: one backend URI for the task queue, results and events (``"sqlite:///omniq.db"``).
        task_queue: the task queue, as a URI or a component, async or blocking (default: ``url``
            or the settings).
        result_store: where results go (default: the task queue's backend).
        event_store: where events go (default: the task queue's backend); ``False`` turns event
            logging off.
        settings: settings to use as they are (otherwise they are loaded from the environment).
        **overrides: settings given as arguments; they win over the environment.

    Components are opened on first use (or by ``async with``) and closed by :meth:`close`.
    """

    def __repr__(self) -> str:
        return f"AsyncOmniQ({stores_repr(self)})"

    @classmethod
    def from_config(cls, config: OmniQConfig, **overrides: Any) -> Self:
        """An application as ``config`` describes it; ``OMNIQ_*`` variables win over the config
        and ``overrides`` (settings) over both."""
        wiring = wire(config, overrides)
        # Built components are checked against their role by __init__, as given ones are.
        app = cls(
            task_queue=cast(Any, wiring.task_queue),
            result_store=cast(Any, wiring.result_store),
            event_store=cast(Any, wiring.event_store),
            settings=wiring.settings,
        )
        app._adopt(wiring.built)
        return app

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> Self:
        """:meth:`from_config` for a mapping shaped like a config file (settings at the top level,
        ``task_queue``/``result_store``/``event_store``/``worker`` sections)."""
        return cls.from_config(OmniQConfig.from_dict(data), **overrides)

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        """:meth:`from_config` for a YAML (``omniq-core[yaml]``), TOML or JSON file."""
        return cls.from_config(OmniQConfig.from_file(path), **overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """An application from ``OMNIQ_*`` variables and defaults alone."""
        return cls.from_config(OmniQConfig(), **overrides)

    @classmethod
    def from_backend(
        cls,
        backend: BaseComponent,
        *,
        result_store_backend: BaseComponent | None = None,
        event_store_backend: BaseComponent | Literal[False] | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Self:
        """An application on backend objects (``SQLiteBackend(project_name=..., base_dir=...)``):
        ``backend`` serves every role unless ``result_store_backend``/``event_store_backend`` say
        otherwise (``False``: no events). The application closes them when it closes.

        ``worker_type`` and ``worker_config`` (worker settings such as ``max_workers``) are the
        defaults of :meth:`start_worker` and :meth:`run_worker`.
        """
        app = cls(
            task_queue=cast(Any, backend),
            result_store=cast(Any, result_store_backend or backend),
            event_store=cast(Any, backend if event_store_backend is None else event_store_backend),
            settings=backend_settings(worker_type, worker_config, overrides),
        )
        app._adopt(
            c for c in (backend, result_store_backend, event_store_backend) if isinstance(c, BaseComponent)
        )
        return app

    def _adopt(self, components: Iterable[BaseComponent]) -> None:
        """Close ``components`` (made for this application, or handed over) when it closes."""
        for component in components:
            self._owned[owned_key(component)] = component
