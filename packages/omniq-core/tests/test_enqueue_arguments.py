"""Arguments are checked at enqueue against the function's signature, when the producer has it."""

from __future__ import annotations

import uuid

import pytest

from omniq.core import AsyncOmniQ
from omniq.core.errors import ValidationError
from omniq.core.testing import tasks


def _app() -> AsyncOmniQ:
    return AsyncOmniQ(f"memory://{uuid.uuid4().hex}")


async def test_a_call_the_function_cannot_take_is_refused_naming_the_argument() -> None:
    async with _app() as app:
        add = app.task(tasks.add)
        with pytest.raises(ValidationError, match="too many positional arguments") as caught:
            await add.enqueue(1, 2, 3)  # type: ignore[call-arg]
        assert caught.value.field == "func_args"
        with pytest.raises(ValidationError, match="'zz'"):
            await app.enqueue(tasks.add, {"a": 1, "b": 2, "zz": 3})
        with pytest.raises(ValidationError, match="'b'"):
            await app.enqueue_many(tasks.add, [{"a": 1, "b": 2}, {"a": 1}])
        with pytest.raises(ValidationError, match="'b'"):
            await app.enqueue("omniq.core.testing.tasks:add", {"a": 1})  # registered by app.task
        assert await app.counts() == {}


async def test_a_function_known_only_by_name_is_not_imported_to_check_it() -> None:
    async with _app() as app:
        task_id = await app.enqueue("somewhere.else:job", {"anything": 1})
        assert await app.get_task(task_id) is not None


async def test_a_good_call_is_stored() -> None:
    async with _app() as app:
        ids = await app.enqueue_many(tasks.add, [{"a": 1, "b": 2}, {"b": 3, "a": 4}])
        assert len(ids) == 2
        assert await app.enqueue(tasks.add, args=[1], func_args={"b": 2})
