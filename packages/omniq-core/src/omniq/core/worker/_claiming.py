"""Claiming tasks and running each attempt, up to the worker's free capacity."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from omniq.core._exceptions import exception_message
from omniq.core.codec import TaskSpec, decode_spec
from omniq.core.context import enter_task
from omniq.core.errors import OmniQError, PayloadError, SerializationError
from omniq.core.models import EventType
from omniq.core.records import TaskRecord
from omniq.core.worker._outage import is_connection_fault
from omniq.core.worker._outcomes import Settlement, task_event
from omniq.core.worker._settling import Settling
from omniq.core.worker._state import pause

__all__ = ["RELEASE_EVERY", "RELEASE_WINDOW", "Claiming"]

logger = logging.getLogger("omniq.worker")

#: How long, and how often, the token of a claim whose reply was lost is given back (see
#: ``Claiming._release_claims``).
RELEASE_WINDOW = 10.0
RELEASE_EVERY = 1.0


class Claiming(Settling):
    """Claiming tasks and running each attempt, up to the worker's free capacity."""

    async def _claim_forever(self) -> None:
        settings = self.settings
        failures = 0
        while not self._stopping.is_set():
            free = self.max_workers - len(self._executions) - len(self._settlements)
            if free <= 0:
                self._capacity.clear()
                await self._capacity.wait()
                continue
            if self._unreleased_claims:
                try:
                    await self._release_claims()
                except Exception as exc:  # noqa: BLE001 - a connection fault: tried again first
                    failures += 1
                    self._outage.failed("giving back a claim whose reply was lost", exc)
                    await asyncio.sleep(min(settings.poll_interval * failures, 5.0))
                    continue
            token = uuid.uuid4().hex
            now = time.time()
            try:
                records = await self.queue.claim(
                    self.queues,
                    limit=min(free, settings.claim_batch),
                    worker_id=self.worker_id,
                    lease_token=token,
                    lease_expires_at=now + settings.lease_ttl,
                    now=now,
                    write_events=self._events_travel,
                )
                failures = 0
                self._outage.succeeded()
            except asyncio.CancelledError:
                self._unreleased_claims[token] = time.monotonic()
                raise
            except Exception as exc:  # noqa: BLE001 - whatever fails, the worker claims again
                self._unreleased_claims[token] = time.monotonic()
                failures += 1
                self._outage.failed("claim", exc)
                await asyncio.sleep(min(settings.poll_interval * failures, 5.0))
                continue
            if not records:
                await self._idle()
                continue
            for record in records:
                self._leases[record.id] = record
                self._executions[record.id] = asyncio.create_task(self._attempt(record))

    async def _release_claims(self, *, last: bool = False) -> None:
        """Give back the tasks of claims whose reply never arrived (the call failed or was
        cancelled but may have been applied): this worker never saw them, so without this they
        would wait out their lease and lose an attempt without running.

        A claim still queued at the server when its token is first given back lands later, so
        each token is given back again, at most once per ``RELEASE_EVERY`` seconds, until
        ``RELEASE_WINDOW`` seconds (or the lease, if shorter) after it was sent; ``last`` gives
        back every token once more and forgets them. A connection fault is raised (the tokens are
        kept); any other error is logged and that token dropped: its tasks' leases run out.
        """
        started = time.monotonic()
        if not last and started < self._next_release:
            return
        self._next_release = started + RELEASE_EVERY
        window = min(RELEASE_WINDOW, self.settings.lease_ttl)
        for token, sent_at in list(self._unreleased_claims.items()):
            done = last or started - sent_at >= window
            try:
                released = await self.queue.release_claim(token, time.time())
            except Exception as exc:
                if is_connection_fault(exc):
                    raise
                logger.error("could not give back the tasks of a claim whose reply was lost", exc_info=exc)
                released, done = 0, True
            if released:
                logger.warning("gave back %d tasks of a claim whose reply was lost", released)
            if done:
                del self._unreleased_claims[token]

    async def _idle(self) -> None:
        """Wait for work to arrive, but no longer than until the worker is asked to stop."""
        arrival = asyncio.ensure_future(self.queue.wait_for_tasks(self.queues, self.settings.poll_interval))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((arrival, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrival.cancel()
            stopping.cancel()
        if arrival.done() and not arrival.cancelled() and arrival.exception() is not None:
            # A broken wake-up channel must not turn idling into a busy loop of failing claims.
            error = arrival.exception()
            assert error is not None
            self._outage.failed("waiting for tasks", error)
            await pause(self._stopping, self.settings.poll_interval)

    async def _attempt(self, record: TaskRecord) -> None:
        try:
            await self._run_attempt(record)
        finally:
            if self._executions.get(record.id) is asyncio.current_task():
                del self._executions[record.id]
            self._lost.discard(record.id)
            self._capacity.set()

    async def _run_attempt(self, record: TaskRecord) -> None:
        if record.expires_at is not None and record.expires_at <= time.time():
            # The claim compared the TTL with the time the worker asked at; a claim that waited
            # (for a lock, a slow round trip) may hand over a task whose TTL has passed since.
            self._settle(Settlement.expired(record))
            return
        try:
            spec = decode_spec(record)
            func = self.functions.resolve(record.func)
            args, kwargs = _call_arguments(
                record.id, self.serializer.loads(spec.payload_format, spec.payload)
            )
        except Exception as exc:  # noqa: BLE001 - whatever stops a task from starting kills it
            logger.error("task %s cannot run and goes to dead: %s", record.id, exc)
            self._fail(record, None, exc, started_at=None, retryable=False)
            return
        started_at = time.time()
        if not self._events_travel:  # else the claim wrote it
            self.events.record(task_event(record, EventType.EXECUTING, started_at))
        assert self._runner is not None
        # This attempt runs in a task of its own, so the context needs no reset: it ends with it.
        enter_task(record)
        try:
            value = await self._runner.run(func, args, kwargs, spec.timeout)
        except asyncio.CancelledError:
            if record.id not in self._lost:
                self._settle(Settlement.release(record))
            return
        except BaseException as exc:  # noqa: BLE001 - SystemExit or gevent.Timeout from a task too
            # Caught here, in the attempt's own task: escaping it, SystemExit or KeyboardInterrupt
            # would stop the worker's event loop.
            self._fail(record, spec, exc, started_at=started_at)
            return
        try:
            value_format, encoded = self.serializer.dumps(value)
        except SerializationError as exc:  # the value is the problem; running again cannot help
            self._fail(record, spec, exc, started_at=started_at, retryable=False)
            return
        self._settle(
            Settlement.success(
                record, spec, value_format=value_format, value=encoded, returned=value, started_at=started_at
            )
        )

    def _fail(
        self,
        record: TaskRecord,
        spec: TaskSpec | None,
        exc: BaseException,
        *,
        started_at: float | None,
        retryable: bool = True,
    ) -> None:
        """Settle a failed attempt; if even that fails (a ``retry_on`` check or an error that
        cannot be described), the task goes to dead with the reason: it must not stay running."""
        try:
            settlement = Settlement.failure(record, spec, exc, started_at=started_at, retryable=retryable)
        except Exception as broken:  # anything here would leave the task running
            logger.exception("task %s: its failure could not be recorded; it goes to dead", record.id)
            why = f"{type(broken).__name__}: {exception_message(broken)}"
            reason = OmniQError(f"the task failed and its failure could not be recorded ({why})")
            settlement = Settlement.failure(record, None, reason, started_at=started_at, retryable=False)
        self._settle(settlement)


def _call_arguments(task_id: str, decoded: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if (
        isinstance(decoded, list)
        and len(decoded) == 2
        and isinstance(decoded[0], list)
        and isinstance(decoded[1], dict)
    ):
        return tuple(decoded[0]), decoded[1]
    raise PayloadError(f"task {task_id}: arguments are not [args, kwargs]")
