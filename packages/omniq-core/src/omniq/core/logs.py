"""Library logging: standard :mod:`logging` under the ``omniq`` logger, apart from task events.

Task events are data (stored, queried, retained); log records are for operators. OmniQ never
configures handlers, as a library should not: the application does (``logging.basicConfig``), and
the ``omniq`` command does for itself. ``log_level`` (``OMNIQ_LOG_LEVEL``), when set, sets the level
of the ``omniq`` logger and so of every ``omniq.*`` logger below it.
"""

from __future__ import annotations

import logging

__all__ = ["LOGGER_NAME", "apply_log_level"]

LOGGER_NAME = "omniq"

# Without a handler of its own, records would reach Python's last-resort handler on stderr in
# applications that configure no logging at all.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def apply_log_level(level: str | None) -> None:
    """Set the ``omniq`` loggers' level (``None``: leave it as the application configured it)."""
    if level is not None:
        logging.getLogger(LOGGER_NAME).setLevel(level.upper())
