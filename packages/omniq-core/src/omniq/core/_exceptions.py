"""Exceptions as text, whatever they hold.

A task may raise anything: an exception whose ``__str__`` raises, or whose message holds lone
surrogates (a file name read with ``surrogateescape``), which UTF-8, hence JSON and msgpack, cannot
encode. Its error must still be recorded, or the task would stay ``running`` with its lease renewed
by a worker that can never write its outcome. These functions never raise.
"""

from __future__ import annotations

import traceback

__all__ = ["encodable", "exception_message", "formatted_exception"]


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a note saying why there is none."""
    try:
        return encodable(str(exc))
    except Exception as broken:  # noqa: BLE001 - a task's exception may define any __str__
        return f"<str() of the exception raised {type(broken).__name__}>"


def formatted_exception(exc: BaseException) -> str:
    """The traceback as ``traceback.format_exception`` writes it, or a note saying why not."""
    try:
        return encodable("".join(traceback.format_exception(exc)))
    except Exception as broken:  # noqa: BLE001 - as above, for __repr__, notes and causes
        return f"<the traceback could not be formatted: {type(broken).__name__}>"


def encodable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udcxx`` escapes, so that UTF-8 can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
