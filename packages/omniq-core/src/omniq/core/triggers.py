"""When a schedule runs: one-off, interval and cron triggers, their bounds, and missed runs.

Every time is computed here, in core, so that all backends agree. A backend only stores the result
and makes the claim of a run atomic (:meth:`~omniq.core.interfaces.BaseScheduleStore.trigger_schedule`).

Missed runs (the schedulers were down, or busy): a schedule whose run is overdue runs **once**, and
its next run is computed from now, so a worker that comes back after a day of downtime does not fire
a day of runs. Resuming a paused schedule computes the next run from the resume time; runs missed
while paused are not replayed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from croniter import croniter
from croniter.croniter import CroniterError

from omniq.core.errors import ValidationError

__all__ = ["ScheduleSpec", "Trigger", "decode_schedule_spec", "encode_schedule_spec"]


class Trigger(msgspec.Struct, frozen=True, array_like=True):
    """When runs happen. Exactly one of ``at``, ``interval`` (seconds) and ``cron`` is set."""

    at: float | None
    interval: float | None
    cron: str | None
    timezone: str
    start_at: float | None
    end_at: float | None
    max_runs: int | None

    @classmethod
    def build(
        cls,
        *,
        at: datetime | None,
        interval: timedelta | float | None,
        cron: str | None,
        timezone: str,
        start_at: datetime | None,
        end_at: datetime | None,
        max_runs: int | None,
    ) -> Trigger:
        """A validated trigger; every error names the argument and the bad value."""
        given = [
            name for name, value in (("at", at), ("interval", interval), ("cron", cron)) if value is not None
        ]
        if len(given) != 1:
            raise ValidationError("at", f"give exactly one of at, interval and cron (got {given or 'none'})")
        _zone(timezone)
        seconds = None
        if interval is not None:
            seconds = interval.total_seconds() if isinstance(interval, timedelta) else interval
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not math.isfinite(seconds)
            ):
                raise ValidationError(
                    "interval", f"must be a timedelta or a number of seconds, got {interval!r}"
                )
            if seconds <= 0:
                raise ValidationError("interval", f"must be positive, got {seconds:g} seconds")
        if cron is not None:
            _check_cron(cron)
        for name, moment in (("at", at), ("start_at", start_at), ("end_at", end_at)):
            if moment is not None and not isinstance(moment, datetime):
                raise ValidationError(name, f"must be a datetime, got {moment!r}")
        if start_at is not None and end_at is not None and end_at <= start_at:
            raise ValidationError(
                "end_at", f"{end_at.isoformat()} is not after start_at {start_at.isoformat()}"
            )
        if max_runs is not None and (
            isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1
        ):
            raise ValidationError("max_runs", f"must be an integer of at least 1, got {max_runs!r}")
        return cls(
            at=None if at is None else _timestamp(at, timezone),
            interval=None if seconds is None else float(seconds),
            cron=cron,
            timezone=timezone,
            start_at=None if start_at is None else _timestamp(start_at, timezone),
            end_at=None if end_at is None else _timestamp(end_at, timezone),
            max_runs=max_runs,
        )

    def first_run(self, now: float) -> float | None:
        """When the first run is due, for a schedule created at ``now``."""
        if self.at is not None:
            return self._bounded(self.at, runs=0)
        start = max(now, self.start_at or now)
        if self.interval is not None:
            # The first interval run is one interval after the start, like every later one.
            return self._bounded(start + self.interval if self.start_at is None else start, runs=0)
        return self._bounded(self._cron_after(start, inclusive=self.start_at is not None), runs=0)

    def next_run(self, due: float, now: float, runs: int) -> float | None:
        """The run after the one due at ``due``, ``runs`` runs having been made (missed runs are
        not caught up: the next run is the first one after ``now``)."""
        if self.at is not None:
            return None
        if self.interval is not None:
            following = due + self.interval
            if following <= now:
                following = now + self.interval
            return self._bounded(following, runs)
        return self._bounded(self._cron_after(max(due, now), inclusive=False), runs)

    def resumed_run(self, now: float, runs: int) -> float | None:
        """The next run of a schedule resumed at ``now``."""
        if self.at is not None:
            return self._bounded(max(self.at, now), runs)
        if self.interval is not None:
            return self._bounded(now + self.interval, runs)
        return self._bounded(self._cron_after(now, inclusive=False), runs)

    def _bounded(self, moment: float, runs: int) -> float | None:
        if self.max_runs is not None and runs >= self.max_runs:
            return None
        if self.end_at is not None and moment > self.end_at:
            return None
        return moment

    def _cron_after(self, moment: float, *, inclusive: bool) -> float:
        assert self.cron is not None
        zone = _zone(self.timezone)
        start = datetime.fromtimestamp(moment, zone)
        if inclusive:
            start -= timedelta(microseconds=1)
        times = croniter(self.cron, start, second_at_beginning=True)
        return float(times.get_next(float))


class ScheduleSpec(msgspec.Struct, frozen=True, array_like=True):
    """What a schedule stores for core: its trigger and the template of the task each run queues."""

    trigger: Trigger
    task_data: bytes
    priority: int
    ttl: float | None
    max_attempts: int
    payload_format: str
    payload: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ScheduleSpec)


def encode_schedule_spec(spec: ScheduleSpec) -> bytes:
    """``ScheduleRecord.data`` for ``spec``."""
    return _encoder.encode(spec)


def decode_schedule_spec(data: bytes) -> ScheduleSpec:
    """The spec in ``ScheduleRecord.data``."""
    return _decoder.decode(data)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError("timezone", f"unknown time zone {name!r}") from exc


def _check_cron(expression: str) -> None:
    if not isinstance(expression, str):
        raise ValidationError("cron", f"must be a string, got {expression!r}")
    fields = len(expression.split())
    if fields not in (5, 6):
        raise ValidationError(
            "cron",
            f"{expression!r} has {fields} fields; expected 5 (minute hour day month weekday) or 6 "
            "(second first)",
        )
    try:
        croniter(expression, datetime.now(UTC), second_at_beginning=True).get_next(float)
    except (CroniterError, ValueError, KeyError) as exc:
        raise ValidationError("cron", f"{expression!r} is not a valid cron expression: {exc}") from exc


def _timestamp(moment: datetime, timezone: str) -> float:
    """A naive datetime is read in the schedule's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(timezone))
    return moment.timestamp()
