"""``omniq events``: stored events, oldest first; with ``--follow``, then each new one as it is stored.

Events reach the store after they happen (workers write them in batches), so a late one can be
older than the newest already printed. Each ``--follow`` poll therefore reads the last
:data:`FOLLOW_LOOKBACK` seconds again and prints only what it has not printed yet.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import msgspec

from omniq.core.cli._config import existing_app
from omniq.core.models import EventType, TaskEvent

__all__ = ["FOLLOW_LOOKBACK", "run_events"]

#: Seconds of events each ``--follow`` poll reads again; an event stored later than this after it
#: happened is not printed by ``--follow`` (a plain ``omniq events`` shows it).
FOLLOW_LOOKBACK = 60.0

_Key = tuple[str, str, datetime, int | None]


async def run_events(args: argparse.Namespace) -> int:
    """Print the events asked for; with ``--follow`` keep printing new ones until interrupted."""
    types = _event_types(args.types)
    since = None if args.since is None else _ago(args.since)
    if args.follow and since is None and args.task_id is None:
        since = _ago(FOLLOW_LOOKBACK)  # like ``tail -f``: the recent ones, not the whole history
    async with existing_app(args) as app:
        if app.event_store is None:
            raise ValueError("event logging is off (event_storage_url is 'none'): no events are stored")
        events = await app.events(args.task_id, types=types, since=since, limit=args.limit or None)
        for event in events:
            _print(event, as_json=args.json)
        if not args.follow:
            if not events and not args.json:
                print("(no events)")
            return 0
        printed = {_key(event): event.at for event in events}
        while True:
            await asyncio.sleep(args.interval)
            window = _ago(FOLLOW_LOOKBACK)
            for event in await app.events(args.task_id, types=types, since=window):
                key = _key(event)
                if key not in printed:
                    printed[key] = event.at
                    _print(event, as_json=args.json)
            printed = {key: at for key, at in printed.items() if at >= window}


def _event_types(names: list[str] | None) -> list[EventType] | None:
    if not names:
        return None
    known = {kind.value: kind for kind in EventType}
    for name in names:
        if name not in known:
            raise ValueError(f"--type {name!r} is not an event type; one of: {', '.join(known)}")
    return [known[name] for name in names]


def _ago(seconds: float) -> datetime:
    return datetime.fromtimestamp(time.time() - seconds, UTC)


def _key(event: TaskEvent) -> _Key:
    return (event.type.value, event.task_id, event.at, event.attempt)


def _print(event: TaskEvent, *, as_json: bool) -> None:
    if as_json:
        print(msgspec.json.encode(event).decode(), flush=True)
        return
    parts = [event.at.isoformat(timespec="milliseconds"), f"{event.type.value:<20}", event.task_id]
    if event.queue is not None:
        parts.append(f"queue={event.queue}")
    if event.attempt is not None:
        parts.append(f"attempt={event.attempt}")
    if event.worker_id is not None:
        parts.append(f"worker={event.worker_id}")
    if event.error is not None:
        parts.append(f"error={event.error.type}: {' '.join(event.error.message.split())}")
    print("  ".join(parts), flush=True)
