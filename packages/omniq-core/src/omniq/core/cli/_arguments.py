"""Argument types the commands share: durations (``30s``, ``15m``, ``12h``, ``7d``) and JSON."""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import Any

__all__ = ["duration", "json_argument"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]?)")


def duration(text: str) -> float:
    """Seconds from ``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or a plain number of seconds.

    Raises:
        argparse.ArgumentTypeError: naming the text (argparse adds the option's name).
    """
    found = _DURATION.fullmatch(text.strip().lower())
    seconds = float(found[1]) * _UNITS[found[2]] if found and found[2] in _UNITS else math.nan
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give seconds, or a number with s, m, h, d or w (30s, 15m, 12h, 7d)"
        )
    return seconds


def json_argument(flag: str, text: str, kind: type) -> Any:
    """``text`` parsed as JSON, which must be a ``kind`` (``list`` or ``dict``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise ValueError(f"{flag} must be a JSON {'list' if kind is list else 'object'}, got {text!r}")
    return value
