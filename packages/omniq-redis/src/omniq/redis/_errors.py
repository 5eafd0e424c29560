"""Errors of the Redis backend: each names the server (password masked) or the key prefix at fault."""

from __future__ import annotations

from omniq.core.errors import OmniQError

__all__ = ["RedisUnavailableError", "WrongKeyTypeError"]


class RedisUnavailableError(OmniQError, ConnectionError):
    """The Redis server cannot be reached (refused, unknown host, timeout, bad credentials)."""


class WrongKeyTypeError(OmniQError, TypeError):
    """A key under the backend's prefix holds a value of another type than OmniQ stores there.

    Another program (or another OmniQ version) writes under the same prefix; choose another one
    with ``?prefix=...``.
    """
