"""Schedule state on Redis: a hash per schedule, an index of active ones by next run, one of all by
creation. ``trigger_schedule`` is one script that checks the expected next run, applies the run and
stores its task, so of any number of schedulers exactly one claims each run.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from omniq.core.interfaces import BaseScheduleStore
from omniq.core.models import ScheduleStatus
from omniq.core.records import EventRecord, ScheduleChange, ScheduleRecord, ScheduleRun, TaskRecord
from omniq.redis._codec import DEPENDENCY_FAILED, enqueue_item, number, pack, packed_events
from omniq.redis._connection import translated_errors
from omniq.redis._keys import Keys
from omniq.redis._scripts import Arg

__all__ = ["RedisSchedules"]

_FIELDS = list(ScheduleRecord.__struct_fields__)
_STATUS = {status.value.encode(): status for status in ScheduleStatus}


def _float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def decode_schedule(v: Sequence[Any]) -> ScheduleRecord:
    """The record of ``HMGET`` of ScheduleRecord's fields, in order."""
    return ScheduleRecord(
        id=v[0].decode(),
        func=v[1].decode(),
        queue=v[2].decode(),
        status=_STATUS[v[3]],
        next_run_at=_float(v[4]),
        created_at=float(v[5]),
        updated_at=float(v[6]),
        runs=int(v[7]),
        last_run_at=_float(v[8]),
        last_task_id=None if v[9] is None else v[9].decode(),
        data=v[10] or b"",
    )


class RedisSchedules(BaseScheduleStore):
    """The schedule store half of :class:`~omniq.redis.RedisBackend`."""

    keys: Keys
    url: str
    prefix: str
    events_maxlen: int

    @property
    @abc.abstractmethod
    def client(self) -> Redis:
        """The open redis-py client."""

    @abc.abstractmethod
    async def _script(self, name: str, args: Sequence[Arg]) -> Any:
        """Run one of the package's Lua scripts."""

    def _schedule_key(self, schedule_id: str) -> str:
        return f"{self.keys.base}:sch:{schedule_id}"

    async def add_schedule(self, record: ScheduleRecord) -> None:
        """Store a new schedule and index it, in one transaction."""
        fields: dict[str, Any] = {
            "id": record.id, "func": record.func, "queue": record.queue, "status": record.status.value,
            "created_at": number(record.created_at), "updated_at": number(record.updated_at),
            "runs": record.runs, "data": record.data,
        }  # fmt: skip
        optional = {
            "next_run_at": None if record.next_run_at is None else number(record.next_run_at),
            "last_run_at": None if record.last_run_at is None else number(record.last_run_at),
            "last_task_id": record.last_task_id,
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        with translated_errors(self.url, self.prefix):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self._schedule_key(record.id), mapping=cast(Any, fields))  # stubs differ by release
                pipe.zadd(f"{self.keys.base}:sch:all", {record.id: record.created_at})
                if record.status is ScheduleStatus.ACTIVE and record.next_run_at is not None:
                    pipe.zadd(f"{self.keys.base}:sch:due", {record.id: record.next_run_at})
                await pipe.execute()

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """One schedule by id."""
        with translated_errors(self.url, self.prefix):
            values = await cast(
                Awaitable[list[Any]], self.client.hmget(self._schedule_key(schedule_id), _FIELDS)
            )
        return None if values[0] is None else decode_schedule(values)

    async def _read(self, ids: Sequence[bytes]) -> list[ScheduleRecord]:
        async with self.client.pipeline(transaction=False) as pipe:
            for schedule_id in ids:
                pipe.hmget(self._schedule_key(schedule_id.decode()), _FIELDS)
            rows: list[list[Any]] = await pipe.execute()
        return [decode_schedule(values) for values in rows if values[0] is not None]

    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        """Schedules, oldest first, optionally of one status."""
        with translated_errors(self.url, self.prefix):
            ids = await cast(Awaitable[list[bytes]], self.client.zrange(f"{self.keys.base}:sch:all", 0, -1))
            records = await self._read(ids)
        return [r for r in records if status is None or r.status == status][: max(limit, 0)]

    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        """Active schedules whose next run has come, earliest first."""
        with translated_errors(self.url, self.prefix):
            ids = await cast(
                Awaitable[list[bytes]],
                self.client.zrangebyscore(
                    f"{self.keys.base}:sch:due", "-inf", number(now), start=0, num=limit
                ),
            )
            records = await self._read(ids)
        return [r for r in records if r.status is ScheduleStatus.ACTIVE and r.next_run_at is not None]

    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """Claim the run due at ``expected_next_run_at`` and store its task and ``events``, in one
        script call."""
        packed_run = pack(
            [
                "" if run.next_run_at is None else number(run.next_run_at),
                run.status.value,
                run.runs,
                number(run.last_run_at),
                run.last_task_id or "",
            ]
        )
        task_args: list[Arg] = ["", ""] if task is None else [pack(enqueue_item(task)), task.data]
        task_args += (DEPENDENCY_FAILED, packed_events(events), self.events_maxlen)
        args: list[Arg] = [schedule_id, number(expected_next_run_at), packed_run, *task_args]
        claimed: int = await self._script("trigger_schedule", args)
        return claimed == 1

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        """Move a schedule whose status is one of ``from_statuses``; returns it as it now is."""
        args: list[Arg] = [
            schedule_id,
            ScheduleStatus(status).value,
            "" if next_run_at is None else number(next_run_at),
            number(now),
            *(ScheduleStatus(s).value for s in from_statuses),
        ]
        reply = await self._script("set_schedule_status", args)
        if reply is None:
            return None
        changed, values = reply
        return ScheduleChange(schedule=decode_schedule(values), changed=bool(changed))
