"""OmniQ core: models, the backend contract, workers, and the ``AsyncOmniQ`` / ``OmniQ`` facades."""

from omniq.core.app import AsyncOmniQ
from omniq.core.callbacks import TaskOutcome
from omniq.core.context import TaskContext, current_task
from omniq.core.errors import (
    BackendNotFoundError,
    ConfigurationError,
    OmniQError,
    PayloadError,
    SerializationError,
    StoreNotFoundError,
    TaskTimeoutError,
    UnknownFunctionError,
    UnknownScheduleError,
    ValidationError,
    WorkerProcessDiedError,
)
from omniq.core.interfaces import BaseEventStorage, BaseResultStorage, BaseTaskQueue
from omniq.core.models import (
    ErrorInfo,
    EventType,
    ResultStatus,
    RetryPolicy,
    Schedule,
    ScheduleStatus,
    Task,
    TaskEvent,
    TaskResult,
    TaskStatus,
)
from omniq.core.registry import installed_schemes, register_backend
from omniq.core.serialization import SerializationManager
from omniq.core.settings import Settings
from omniq.core.sync import OmniQ
from omniq.core.task_function import AsyncTaskFunction, TaskFunction
from omniq.core.worker import AsyncWorker, BaseWorker, GeventWorker, ProcessPoolWorker, ThreadPoolWorker

__all__ = [
    "AsyncOmniQ",
    "AsyncTaskFunction",
    "AsyncWorker",
    "BackendNotFoundError",
    "BaseEventStorage",
    "BaseResultStorage",
    "BaseTaskQueue",
    "BaseWorker",
    "ConfigurationError",
    "ErrorInfo",
    "EventType",
    "GeventWorker",
    "OmniQ",
    "OmniQError",
    "PayloadError",
    "ProcessPoolWorker",
    "ResultStatus",
    "RetryPolicy",
    "Schedule",
    "ScheduleStatus",
    "SerializationError",
    "SerializationManager",
    "Settings",
    "StoreNotFoundError",
    "Task",
    "TaskContext",
    "TaskEvent",
    "TaskFunction",
    "TaskOutcome",
    "TaskResult",
    "TaskStatus",
    "TaskTimeoutError",
    "ThreadPoolWorker",
    "UnknownFunctionError",
    "UnknownScheduleError",
    "ValidationError",
    "WorkerProcessDiedError",
    "current_task",
    "installed_schemes",
    "register_backend",
]
