"""Task ids that sort by creation time (the UUIDv7 layout, written as 32 hex digits).

Random ids (UUIDv4) land at random places in every index keyed by task id, so each insert touches a
different page; ids that grow with time are appended at the end of those indexes, which keeps inserts
and lookups cheap on B-tree engines (SQLite, PostgreSQL) and keeps listings in creation order.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_VERSION_7 = 0x7 << 76
_VERSION_MASK = ~(0xF << 76)
_VARIANT_RFC = 0x2 << 62
_VARIANT_MASK = ~(0x3 << 62)


def new_id() -> str:
    """A new id: 48 bits of milliseconds since the epoch, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & _VERSION_MASK & _VARIANT_MASK) | _VERSION_7 | _VARIANT_RFC
    return f"{value:032x}"
