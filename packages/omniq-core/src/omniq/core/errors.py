"""Exceptions raised by OmniQ; each message names the bad value and what to do next."""

from __future__ import annotations

__all__ = [
    "BackendNotFoundError",
    "CapabilityError",
    "ConfigurationError",
    "FunctionNotAllowedError",
    "LeaseLostError",
    "OmniQError",
    "PayloadError",
    "SerializationError",
    "StoreNotFoundError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "UnknownFunctionError",
    "UnknownScheduleError",
    "ValidationError",
    "WorkerProcessDiedError",
]


class OmniQError(Exception):
    """Base class of every error OmniQ raises on purpose."""


class ConfigurationError(OmniQError):
    """A setting, URI or option is invalid."""


class BackendNotFoundError(ConfigurationError):
    """No backend serves a URI scheme (the message lists installed schemes or the package to install)."""


class CapabilityError(ConfigurationError):
    """The configured backend lacks a capability the call needs (see :mod:`omniq.core.capabilities`)."""


class StoreNotFoundError(ConfigurationError):
    """A store opened with ``open_existing`` does not exist (no SQLite file at the path, no OmniQ
    schema in the PostgreSQL database); the message names it. Nothing was created."""


class ValidationError(OmniQError, ValueError):
    """An argument to enqueue or schedule is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SerializationError(OmniQError, TypeError):
    """A value cannot be encoded (the message names its type) or a stored value cannot be decoded."""


class PayloadError(OmniQError):
    """A stored task cannot be decoded; the task goes to ``dead`` with this message."""


class UnknownFunctionError(OmniQError):
    """A task's function cannot be imported or is not registered."""


class FunctionNotAllowedError(UnknownFunctionError):
    """A task names a function this worker may not run (see :mod:`omniq.core.function_policy`);
    its module is not imported and the task goes to ``dead``."""


class TaskNotFoundError(OmniQError, KeyError):
    """No task has the given id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "task not found"


class TaskTimeoutError(OmniQError, TimeoutError):
    """A task attempt ran longer than its timeout and was stopped."""


class LeaseLostError(OmniQError):
    """The worker no longer holds a task's lease; its outcome is discarded."""


class WorkerProcessDiedError(OmniQError):
    """The process running a task died mid-attempt (``os._exit``, a signal, a crash in C code).

    The attempt counts as a failure and is retried by the task's policy.
    """


class UnknownScheduleError(OmniQError, KeyError):
    """No schedule has the given id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(schedule_id)
        self.schedule_id = schedule_id

    def __str__(self) -> str:
        return f"no schedule has the id {self.schedule_id!r}"
