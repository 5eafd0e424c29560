"""Conformance tests for hostile input through the public API: every bad value is refused with an
error naming what is wrong, nothing is stored, and the store answers normally afterwards.

The table is the same for every backend: values that one engine would take and another would
choke on (a NUL character, a lone surrogate, a key too long for an index) are refused by core
before they reach any store.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import SerializationError, ValidationError
from omniq.core.testing import tasks
from omniq.core.testing._support import ConformanceFixtures, requires

__all__ = ["HostileInputTests"]

_LOOP: list[Any] = []
_LOOP.append(_LOOP)

#: Enqueue options that must be refused, with the field the error names.
BAD_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("queue_name", {"queue_name": ""}),
    ("queue_name", {"queue_name": "a\x00b"}),
    ("queue_name", {"queue_name": "x" * 201}),
    ("queue_name", {"queue_name": "q\udcff"}),
    ("priority", {"priority": 1001}),
    ("priority", {"priority": "1"}),
    ("priority", {"priority": True}),
    ("run_in", {"run_in": -1}),
    ("run_in", {"run_in": math.nan}),
    ("run_in", {"run_in": "soon"}),
    ("run_at", {"run_in": 1, "run_at": datetime.datetime.now(datetime.UTC)}),
    ("run_at", {"run_at": "tomorrow"}),
    ("ttl", {"ttl": 0}),
    ("ttl", {"ttl": math.inf}),
    ("timeout", {"timeout": 0}),
    ("result_ttl", {"result_ttl": -5}),
    ("max_retries", {"max_retries": -1}),
    ("max_retries", {"max_retries": "3"}),
    ("retry_delay", {"retry_delay": -1}),
    ("retry_on", {"retry_on": [42]}),
    ("depends_on", {"depends_on": "abc"}),
    ("depends_on", {"depends_on": [1]}),
    ("depends_on", {"depends_on": [""]}),
    ("depends_on", {"depends_on": ["a\x00"]}),
    ("depends_on", {"depends_on": ["no-such-task"]}),
    ("dedup_key", {"dedup_key": 5}),
    ("dedup_key", {"dedup_key": "k\x00"}),
    ("dedup_key", {"dedup_key": "k" * 100_000}),
    ("dedup_key", {"dedup_key": "k\udcff"}),
]

#: Function references that must be refused.
BAD_FUNCTIONS: list[Any] = ["", "a:b\x00", "a\udcff:b", 42, "m:" + "f" * 2000]

#: Arguments msgpack cannot carry: refused at enqueue with the type named.
BAD_ARGUMENTS: list[tuple[str, list[Any]]] = [
    ("object", [object(), 1]),
    ("int", [2**70, 1]),
    ("list", [_LOOP, 1]),
    ("str", ["\udcff", 1]),
]

#: Ids no store can hold: refused by every lookup.
BAD_IDS: list[Any] = ["", "a\x00b", "x" * 10_000, "\udcff", 42, b"bytes"]


class HostileInputTests(ConformanceFixtures):
    """Bad values through ``AsyncOmniQ``: refused, named, and nothing stored."""

    @requires(Capability.ADMIN)
    @pytest.mark.parametrize(("field", "options"), BAD_OPTIONS, ids=[f for f, _ in BAD_OPTIONS])
    async def test_a_bad_option_is_refused_naming_it(
        self, app: AsyncOmniQ, field: str, options: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            await app.enqueue(tasks.add, {"a": 1, "b": 2}, **options)
        assert caught.value.field == field
        assert await app.counts() == {}

    @requires(Capability.ADMIN)
    @pytest.mark.parametrize("func", BAD_FUNCTIONS, ids=range(len(BAD_FUNCTIONS)))
    async def test_a_bad_function_reference_is_refused(self, app: AsyncOmniQ, func: Any) -> None:
        with pytest.raises(ValidationError) as caught:
            await app.enqueue(func)
        assert caught.value.field == "func"
        assert await app.counts() == {}

    @requires(Capability.ADMIN)
    @pytest.mark.parametrize(("kind", "args"), BAD_ARGUMENTS, ids=[k for k, _ in BAD_ARGUMENTS])
    async def test_arguments_that_cannot_be_encoded_are_refused_naming_their_type(
        self, app: AsyncOmniQ, kind: str, args: list[Any]
    ) -> None:
        with pytest.raises(SerializationError, match=kind):
            await app.enqueue(tasks.add, args=args)
        assert await app.counts() == {}

    @pytest.mark.parametrize("task_id", BAD_IDS, ids=range(len(BAD_IDS)))
    async def test_every_lookup_refuses_an_id_no_store_can_hold(self, app: AsyncOmniQ, task_id: Any) -> None:
        lookups: list[Callable[[Any], Awaitable[Any]]] = [
            app.get_task,
            app.get_result,
            app.cancel,
            app.requeue,
            app.events,
        ]
        for lookup in lookups:
            with pytest.raises(ValidationError) as caught:
                await lookup(task_id)
            assert caught.value.field == "task_id", lookup
        schedule_lookups: list[Callable[[Any], Awaitable[Any]]] = [
            app.get_schedule,
            app.pause_schedule,
            app.resume_schedule,
        ]
        for schedule_lookup in schedule_lookups:
            with pytest.raises(ValidationError):
                await schedule_lookup(task_id)

    @requires(Capability.ADMIN)
    async def test_an_unknown_id_is_nothing_and_quotes_do_no_harm(self, app: AsyncOmniQ) -> None:
        kept = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        for task_id in ("'; DROP TABLE tasks; --", "../../etc/passwd", "*", "%", "{x}", "0" * 512):
            assert await app.get_task(task_id) is None
            assert await app.get_result(task_id) is None
            assert await app.cancel(task_id) is False
            assert await app.requeue(task_id) is False
            assert await app.events(task_id) == []
        assert await app.get_task(kept) is not None
