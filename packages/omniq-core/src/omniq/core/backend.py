"""Everything a backend needs from core, in one import: ``from omniq.core.backend import ...``.

A backend distribution (first-party or third-party ``omniq-*``) implements the interfaces below,
moves the records in and out of its engine, and registers its class under a URI scheme with an
entry point in the group ``omniq.backends``. docs/writing-a-backend.md walks through it; the
conformance suite is ``omniq.core.testing.BackendConformance`` (extra ``omniq-core[testing]``).
Names outside this module's ``__all__`` may change without notice.
"""

from __future__ import annotations

from omniq.core._component_classes import ComponentClasses, component_classes
from omniq.core.backend_options import ServerConfig, convert_options
from omniq.core.capabilities import Capability, capabilities_of, require
from omniq.core.corrupt import Unreadable, read_one_task, readable_tasks, split_readable, unreadable_error
from omniq.core.dependency_rules import (
    DEPENDENT_FATE,
    Cascade,
    DependentFate,
    cascade,
    fate_of,
    sql_status_list,
    start_status,
)
from omniq.core.errors import (
    CapabilityError,
    ConfigurationError,
    OmniQError,
    PayloadError,
    StoreNotFoundError,
    ValidationError,
)
from omniq.core.interfaces import (
    BaseComponent,
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)
from omniq.core.models import ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.records import (
    CLAIMABLE_STATUSES,
    FINAL_STATUSES,
    LEASE_EXPIRED,
    LEASE_EXPIRED_ERROR,
    LIVE_STATUSES,
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    ScheduleChange,
    ScheduleRecord,
    ScheduleRun,
    TaskChange,
    TaskRecord,
    claim_order,
    dependency_failed_error,
    events_about,
    executing_event,
    live_result,
)
from omniq.core.registry import register_backend
from omniq.core.settings import Settings
from omniq.core.urls import build_url, mask_url, split_url, url_scheme

__all__ = [
    "CLAIMABLE_STATUSES",
    "DEPENDENT_FATE",
    "FINAL_STATUSES",
    "LEASE_EXPIRED",
    "LEASE_EXPIRED_ERROR",
    "LIVE_STATUSES",
    "BaseComponent",
    "BaseEventStorage",
    "BaseResultStorage",
    "BaseScheduleStore",
    "BaseTaskQueue",
    "Capability",
    "CapabilityError",
    "Cascade",
    "ComponentClasses",
    "ConfigurationError",
    "DependencyReport",
    "DependentFate",
    "EventRecord",
    "FinishReport",
    "OmniQError",
    "Outcome",
    "PayloadError",
    "ReapReport",
    "ResultRecord",
    "ResultStatus",
    "ScheduleChange",
    "ScheduleRecord",
    "ScheduleRun",
    "ScheduleStatus",
    "ServerConfig",
    "Settings",
    "StoreNotFoundError",
    "TaskAdmin",
    "TaskChange",
    "TaskRecord",
    "TaskStatus",
    "Unreadable",
    "ValidationError",
    "build_url",
    "capabilities_of",
    "cascade",
    "claim_order",
    "component_classes",
    "convert_options",
    "dependency_failed_error",
    "events_about",
    "executing_event",
    "fate_of",
    "live_result",
    "mask_url",
    "read_one_task",
    "readable_tasks",
    "register_backend",
    "require",
    "split_readable",
    "split_url",
    "sql_status_list",
    "start_status",
    "unreadable_error",
    "url_scheme",
]
