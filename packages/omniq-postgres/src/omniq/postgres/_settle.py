"""Outcomes to column arrays, and which outcomes a finish accepted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omniq.core.records import Outcome

__all__ = ["accepted_ids", "outcome_arrays"]


def outcome_arrays(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """Ids, tokens, statuses, times, due times and errors: the finish statements' parameters."""
    return [
        [o.task_id for o in outcomes],
        [o.lease_token for o in outcomes],
        [o.status.value for o in outcomes],
        [o.at for o in outcomes],
        [o.due_at for o in outcomes],
        [o.error for o in outcomes],
    ]


def accepted_ids(outcomes: Sequence[Outcome], settled: set[str]) -> list[str]:
    """The ids of ``outcomes`` the statement settled, in order; of two outcomes for one task,
    only the first counts (the second found the lease already settled)."""
    accepted = []
    for outcome in outcomes:
        if outcome.task_id in settled:
            settled.discard(outcome.task_id)
            accepted.append(outcome.task_id)
    return accepted
