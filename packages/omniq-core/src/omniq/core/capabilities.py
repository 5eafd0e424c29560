"""What a backend can do beyond the required task-queue contract, read from its class.

Every task queue implements :class:`~omniq.core.interfaces.BaseTaskQueue`: enough to enqueue, run,
retry, cancel and chain tasks on any number of workers. The rest is optional, and a backend declares
it on its class, so that a backend author can start small and core can say precisely what is
missing instead of failing somewhere inside a call:

- ``admin``: it also subclasses :class:`~omniq.core.interfaces.TaskAdmin` (listings, counts,
  dead-letter requeue, purges);
- ``schedules``: it also subclasses :class:`~omniq.core.interfaces.BaseScheduleStore`;
- ``events``: it also subclasses :class:`~omniq.core.interfaces.BaseEventStorage`, and then writes
  the lifecycle events core hands to its transitions with them (see :mod:`omniq.core.interfaces`);
- ``push_wakeups``: it overrides ``wait_for_tasks`` (idle workers are woken rather than polling);
- ``push_cancels``: it overrides ``watch_cancellations`` (a cancelled running task stops at once
  rather than at its worker's next heartbeat);
- ``result_waits``: as a result store, it overrides ``wait_for_result`` (waiters are notified
  rather than polling).

The last two only make things faster; without the first two, core refuses the calls that need them
with a :class:`~omniq.core.errors.CapabilityError` naming the backend and the capability.
"""

from __future__ import annotations

import enum

from omniq.core.errors import CapabilityError
from omniq.core.interfaces import (
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)

__all__ = ["Capability", "capabilities_of", "require"]


class Capability(enum.StrEnum):
    """An optional part of the backend contract."""

    ADMIN = "admin"
    SCHEDULES = "schedules"
    EVENTS = "events"
    PUSH_WAKEUPS = "push_wakeups"
    PUSH_CANCELS = "push_cancels"
    RESULT_WAITS = "result_waits"


#: The class a backend subclasses to declare each capability that is an interface of its own.
_INTERFACES: dict[Capability, type] = {
    Capability.ADMIN: TaskAdmin,
    Capability.SCHEDULES: BaseScheduleStore,
    Capability.EVENTS: BaseEventStorage,
}


def capabilities_of(backend: object) -> frozenset[Capability]:
    """The capabilities ``backend`` (an instance or a class) declares."""
    from omniq.core.components import ComponentView  # noqa: PLC0415 - components import core modules

    if isinstance(backend, ComponentView):  # a view: what its backend can do
        backend = backend.backend
    cls = backend if isinstance(backend, type) else type(backend)
    found = {capability for capability, interface in _INTERFACES.items() if issubclass(cls, interface)}
    if issubclass(cls, BaseTaskQueue) and cls.wait_for_tasks is not BaseTaskQueue.wait_for_tasks:
        found.add(Capability.PUSH_WAKEUPS)
    if issubclass(cls, BaseTaskQueue) and cls.watch_cancellations is not BaseTaskQueue.watch_cancellations:
        found.add(Capability.PUSH_CANCELS)
    if issubclass(cls, BaseResultStorage) and cls.wait_for_result is not BaseResultStorage.wait_for_result:
        found.add(Capability.RESULT_WAITS)
    return frozenset(found)


def require(backend: object, capability: Capability, needed_for: str) -> None:
    """Raise :class:`CapabilityError` unless ``backend`` declares ``capability``.

    ``needed_for`` names what the caller was asked to do (``"listing tasks"``).
    """
    if capability in capabilities_of(backend):
        return
    interface = _INTERFACES.get(capability)
    how = (
        f" (its class does not subclass {interface.__module__}.{interface.__qualname__})" if interface else ""
    )
    raise CapabilityError(
        f"{backend!r} cannot be used for {needed_for}: it lacks the {capability.value!r} capability{how}"
    )
