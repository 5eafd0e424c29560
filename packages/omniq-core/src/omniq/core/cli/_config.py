"""What every command reads: ``--config FILE``, then ``OMNIQ_*`` variables, then ``--url``.

The same precedence as the library's (arguments > environment > config file > defaults), so a
command sees the application the code would build from the same file and environment.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from omniq.core.app import AsyncOmniQ
from omniq.core.config import COMPONENT_ROLES, OmniQConfig
from omniq.core.settings import EVENTS_OFF, Settings

__all__ = ["app_from_args", "existing_app", "settings_from_args"]


def _config(args: argparse.Namespace) -> OmniQConfig:
    path = getattr(args, "config", None)
    return OmniQConfig() if path is None else OmniQConfig.from_file(path)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    url = getattr(args, "url", None)
    if url is None:
        return {}
    # One --url is every component, as AsyncOmniQ(url) is; but events turned off
    # (OMNIQ_EVENT_STORAGE_URL=none, or in the file) stay off.
    roles = dict.fromkeys(COMPONENT_ROLES.values(), url)
    if Settings.load(_config(args).settings_layer()).event_storage_url == EVENTS_OFF:
        del roles["event_storage_url"]
    return roles


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings a command runs with (no backend is imported to read them)."""
    return Settings.load(_config(args).settings_layer(), **_overrides(args))


def app_from_args(args: argparse.Namespace, **overrides: Any) -> AsyncOmniQ:
    """The application a command works on; ``overrides`` are the command's own settings."""
    return AsyncOmniQ.from_config(_config(args), **{**overrides, **_overrides(args)})


@contextlib.asynccontextmanager
async def existing_app(args: argparse.Namespace) -> AsyncIterator[AsyncOmniQ]:
    """The application a command works on, opened only if its stores exist (commands that read or
    change existing tasks never create a store); closed when the block ends."""
    app = app_from_args(args)
    try:
        await app.open_existing()
        yield app
    finally:
        await app.close()
