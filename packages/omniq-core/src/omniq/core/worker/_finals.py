"""What follows when tasks become final without a worker writing their result.

A task can end outside an attempt: cancelled by the application, sent to dead or expired by the
reaper, cancelled because a task it waited on failed. Each needs a result (so that ``get_result``
answers and waiting callers wake up) and each may release or cancel the tasks waiting on it. The
application and the worker both do this; :func:`store_finals` is the one routine they share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from omniq.core.records import DependencyReport, EventRecord, ResultRecord, TaskRecord
from omniq.core.worker._outcomes import dependency_results, final_result

__all__ = ["PutResults", "store_finals"]

#: How results are stored: the result store's ``put_results``, or the worker's retrying wrapper.
PutResults = Callable[[list[ResultRecord]], Awaitable[None]]


async def store_finals(
    finals: Iterable[TaskRecord],
    dependencies: DependencyReport | None,
    *,
    now: float,
    record_event: Callable[[EventRecord], None],
    put_results: PutResults | None,
) -> None:
    """Store one result per task in ``finals`` (tasks that just became dead, cancelled or
    expired) and record what resolving their dependents changed (``dependencies``): a
    ``dependency_satisfied`` event per released task, a ``dependency_failed`` event and a
    ``cancelled`` result per cancelled one. All results go in one ``put_results`` call;
    ``put_results`` ``None`` (no result store) keeps only the events."""
    results = [result for result in (final_result(record, now) for record in finals) if result is not None]
    if dependencies is not None:
        results.extend(dependency_results(dependencies, record_event, now))
    if results and put_results is not None:
        await put_results(results)
