"""Task ids that sort by creation time (the UUIDv7 layout, written as 32 hex digits).

Random ids (UUIDv4) land at random places in every index keyed by task id, so each insert touches a
different page; ids that grow with time are appended at the end of those indexes, which keeps inserts
and lookups cheap on B-tree engines (SQLite, PostgreSQL) and keeps listings in creation order.

The 74 bits after the milliseconds are a random number drawn once per process (again after a
fork) plus a counter: ids from one process never repeat and grow even within one millisecond, and
making one costs no system call, which matters when ``enqueue_many`` makes thousands.
"""

from __future__ import annotations

import itertools
import os
import time

__all__ = ["new_id"]

_RANDOM_BITS = 74
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
_LOW_BITS = 62
_LOW_MASK = (1 << _LOW_BITS) - 1
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62


class _Sequence:
    """A random start and a counter; drawn again in a forked child so it does not repeat its parent."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start = int.from_bytes(os.urandom(10), "big") & _RANDOM_MASK
        self.counter = itertools.count()


_sequence = _Sequence()
os.register_at_fork(after_in_child=_sequence.reset)


def new_id() -> str:
    """A new id: 48 bits of milliseconds since the epoch, then 74 bits unique to this process."""
    millis = time.time_ns() // 1_000_000
    tail = (_sequence.start + next(_sequence.counter)) & _RANDOM_MASK
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION_7
        | (tail >> _LOW_BITS) << 64
        | _VARIANT_RFC
        | (tail & _LOW_MASK)
    )
    return f"{value:032x}"
