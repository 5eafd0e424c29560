"""Outcomes and leases to the parameters of the finish and heartbeat statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from omniq.core.records import Outcome

__all__ = ["lease_parameters", "outcome_parameters"]

_encode_json = msgspec.json.Encoder().encode


def outcome_parameters(outcomes: Sequence[Outcome]) -> tuple[str, list[str]]:
    """``{id: [token, status, time, due time, error]}`` as JSON, and the ids: the finish
    statements' parameters. Of two outcomes for one task, the first is sent (only the first can
    be accepted: see :meth:`FinishReport.settled`). Times survive exactly: msgspec writes the shortest
    decimal that reads back as the same double."""
    by_id: dict[str, tuple[Any, ...]] = {}
    for o in outcomes:
        if o.task_id not in by_id:
            by_id[o.task_id] = (o.lease_token, o.status.value, o.at, o.due_at, o.error)
    return _encode_json(by_id).decode(), list(by_id)


def lease_parameters(leases: Sequence[tuple[str, str]]) -> tuple[list[str], str]:
    """The ids, and ``{id: token}`` as JSON: the heartbeat statement's parameters."""
    tokens = dict(leases)
    return list(tokens), _encode_json(tokens).decode()
