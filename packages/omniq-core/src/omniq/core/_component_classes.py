"""The six component classes of a backend, made from its backend class and its name.

Every backend offers the same six classes (``Async<Engine>TaskQueue``, ``...ResultStorage``,
``...EventStorage`` and their blocking twins); they differ only in names and in the backend they
serve, so they are made here rather than written out in every backend package.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar, cast

from omniq.core.components import (
    ComponentView,
    EventStorageView,
    ResultStorageView,
    ScheduledTaskQueueView,
    TaskQueueView,
)
from omniq.core.interfaces import BaseComponent, BaseScheduleStore
from omniq.core.sync_components import EventStorageTwin, ResultStorageTwin, TaskQueueTwin

__all__ = ["ComponentClasses", "component_classes"]

K = TypeVar("K", bound=type)


class ComponentClasses(NamedTuple):
    """A backend's component classes, in the order a backend module unpacks them."""

    async_task_queue: type[TaskQueueView]
    async_result_storage: type[ResultStorageView]
    async_event_storage: type[EventStorageView]
    task_queue: type[TaskQueueTwin]
    result_storage: type[ResultStorageTwin]
    event_storage: type[EventStorageTwin]


def component_classes(
    backend_type: type[BaseComponent], engine: str, *, module: str, where: str
) -> ComponentClasses:
    """The component classes of ``backend_type``, named after ``engine`` (``"SQLite"`` gives
    ``AsyncSQLiteTaskQueue`` ... ``SQLiteEventStorage``) and belonging to ``module`` (pass
    ``__name__``, so that they pickle and show where users import them from). ``where`` ends
    their docstrings: ``"in an SQLite file"``.

    The task queue class keeps schedules too when the backend does (``BaseScheduleStore``).
    """
    backend = backend_type.__name__
    schedules = issubclass(backend_type, BaseScheduleStore)
    queue_base: type[TaskQueueView] = ScheduledTaskQueueView if schedules else TaskQueueView
    what = "Task queue (and schedules)" if schedules else "Task queue"
    args = f"arguments as :class:`{backend}`'s"
    queue = _made(
        queue_base, f"Async{engine}TaskQueue", f"{what} {where}; {args}.", module, backend_type=backend_type
    )
    results = _made(
        ResultStorageView,
        f"Async{engine}ResultStorage",
        f"Result store {where}; {args}.",
        module,
        backend_type=backend_type,
    )
    events = _made(
        EventStorageView,
        f"Async{engine}EventStorage",
        f"Event store {where}; {args}.",
        module,
        backend_type=backend_type,
    )
    return ComponentClasses(
        queue,
        results,
        events,
        _twin(TaskQueueTwin, queue, module),
        _twin(ResultStorageTwin, results, module),
        _twin(EventStorageTwin, events, module),
    )  # fmt: skip


def _twin(base: K, view: type[ComponentView], module: str) -> K:
    name = view.__name__
    return _made(base, name.removeprefix("Async"), f"Blocking :class:`{name}`.", module, async_type=view)


def _made(base: K, name: str, doc: str, module: str, **attributes: object) -> K:
    namespace = {"__doc__": doc, "__module__": module, "__qualname__": name, **attributes}
    return cast(K, type(name, (base,), namespace))
