"""Backends found by URI scheme: entry points in group ``omniq.backends``, imported on first use.

A third-party distribution ships an entry point ``foo = "omniq_foo:FooBackend"`` and
``AsyncOmniQ("foo://...")`` works with no change to core. :func:`register_backend` adds a scheme
in-process (tests, plugins that are not installed as distributions).
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata
from typing import Any

from omniq.core.errors import BackendNotFoundError
from omniq.core.interfaces import BaseComponent
from omniq.core.urls import url_scheme

__all__ = ["KNOWN_BACKENDS", "backend_class", "installed_schemes", "open_url", "register_backend"]

ENTRY_POINT_GROUP = "omniq.backends"

#: Schemes served by OmniQ's own distributions, for the "install this" hint.
KNOWN_BACKENDS = {
    "sqlite": "omniq-sqlite",
    "postgresql": "omniq-postgres",
    "postgres": "omniq-postgres",
    "redis": "omniq-redis",
    "rediss": "omniq-redis",
    "unix": "omniq-redis",
    "nats": "omniq-nats",
    "tls": "omniq-nats",
    "file": "omniq-fsspec",
    "s3": "omniq-fsspec",
    "gs": "omniq-fsspec",
    "gcs": "omniq-fsspec",
    "az": "omniq-fsspec",
    "abfs": "omniq-fsspec",
}

_registered: dict[str, str | type[BaseComponent]] = {}
_loaded: dict[str, type[BaseComponent]] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None


def register_backend(scheme: str, target: str | type[BaseComponent]) -> None:
    """Serve ``scheme://`` URIs with ``target``: a class or a ``"module:Class"`` path."""
    scheme = scheme.lower()
    _registered[scheme] = target
    _loaded.pop(scheme, None)


def installed_schemes() -> list[str]:
    """Every scheme that a URI may use in this environment, sorted."""
    return sorted(set(_registered) | set(_discovered()))


def backend_class(scheme: str) -> type[BaseComponent]:
    """The class serving ``scheme``, importing its module on first use."""
    scheme = scheme.lower()
    cls = _loaded.get(scheme)
    if cls is None:
        cls = _load(scheme)
        _loaded[scheme] = cls
    return cls


def open_url(url: str, **options: Any) -> BaseComponent:
    """An unopened backend component for ``url``."""
    return backend_class(url_scheme(url)).from_url(url, **options)


def _discovered() -> dict[str, metadata.EntryPoint]:
    global _entry_points
    if _entry_points is None:
        _entry_points = {ep.name.lower(): ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return _entry_points


def _load(scheme: str) -> type[BaseComponent]:
    target = _registered.get(scheme)
    if isinstance(target, type):
        return target
    if target is not None:
        module_name, _, attr = target.partition(":")
        return _checked(scheme, getattr(importlib.import_module(module_name), attr))
    entry_point = _discovered().get(scheme)
    if entry_point is None:
        raise BackendNotFoundError(_missing_message(scheme))
    _warn_on_version_skew(entry_point)
    return _checked(scheme, entry_point.load())


def _checked(scheme: str, obj: object) -> type[BaseComponent]:
    if not (isinstance(obj, type) and issubclass(obj, BaseComponent)):
        raise BackendNotFoundError(
            f"the backend registered for {scheme}:// is {obj!r}, not a BaseComponent subclass"
        )
    return obj


def _missing_message(scheme: str) -> str:
    distribution = KNOWN_BACKENDS.get(scheme)
    if distribution is not None:
        return f"the {scheme}:// backend is not installed: pip install {distribution}"
    return f"no backend serves {scheme}:// URIs; installed schemes: {', '.join(installed_schemes())}"


def _warn_on_version_skew(entry_point: metadata.EntryPoint) -> None:
    """Warn when one of OmniQ's own distributions (released with core) has another version than
    core; a third party's ``omniq-*`` backend has its own version line."""
    dist = entry_point.dist
    if dist is None or dist.name not in set(KNOWN_BACKENDS.values()):
        return
    core_version = _core_version()
    if core_version is not None and dist.version != core_version:
        warnings.warn(
            f"{dist.name} {dist.version} is installed beside omniq-core {core_version}; OmniQ's "
            f"packages are released together: install omniq-core=={dist.version}",
            RuntimeWarning,
            stacklevel=4,
        )


def _core_version() -> str | None:
    try:
        return metadata.version("omniq-core")
    except metadata.PackageNotFoundError:
        return None
