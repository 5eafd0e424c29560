"""From a configuration to settings and components: which backend serves each role.

Every way of building an application (a URI, components, a config file, backend objects) ends
here, so the rules below hold for all of them.

Precedence is the settings' (arguments > ``OMNIQ_*`` > config > defaults), applied to components
too: an ``OMNIQ_TASK_QUEUE_URL`` or a ``task_queue_url=`` argument wins over a ``task_queue``
section. Results and events follow the task queue unless configured; the very object, when the task
queue was built from a section, so that one backend keeps one connection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from omniq.core.config import COMPONENT_ROLES, WORKER_SETTINGS, ComponentConfig, OmniQConfig
from omniq.core.errors import BackendNotFoundError, ConfigurationError
from omniq.core.interfaces import BaseComponent
from omniq.core.registry import backend_class, open_url
from omniq.core.settings import ENV_PREFIX, EVENTS_OFF, Settings, check_keys
from omniq.core.urls import mask_url

__all__ = ["Wiring", "backend_settings", "default_event_store", "owned_key", "role_component", "wire"]


logger = logging.getLogger("omniq.config")

Ref = str | BaseComponent


class Wiring(NamedTuple):
    """What an application is made of; ``built`` lists the components made here (the app owns them)."""

    settings: Settings
    task_queue: Ref
    result_store: Ref
    event_store: Ref | Literal[False]
    built: list[BaseComponent]


def wire(config: OmniQConfig, overrides: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Wiring:
    """Settings and a component (or URI) per role for ``config`` under ``env`` and ``overrides``."""
    env = os.environ if env is None else env
    settings = Settings.load(config.settings_layer(), env=env, **overrides)
    explicit = {
        field
        for field in COMPONENT_ROLES.values()
        if overrides.get(field) is not None or f"{ENV_PREFIX}{field.upper()}" in env
    }
    built: list[BaseComponent] = []
    refs = {role: role_ref(config, role, settings, explicit, built) for role in COMPONENT_ROLES}
    task_queue = refs["task_queue"] or settings.queue_url
    events = refs["event_store"]
    event_store: Ref | Literal[False] = task_queue if events is None else events
    if isinstance(event_store, str) and event_store.lower() == EVENTS_OFF:
        event_store = False
    wiring = Wiring(settings, task_queue, refs["result_store"] or task_queue, event_store, built)
    for role in COMPONENT_ROLES:
        logger.debug("%s: %s", role, _shown(getattr(wiring, role)))
    return wiring


def role_ref(
    config: OmniQConfig, role: str, settings: Settings, explicit: set[str], built: list[BaseComponent]
) -> Ref | None:
    """The URI or component configured for ``role``; ``None`` when it follows the defaults."""
    url_field = COMPONENT_ROLES[role]
    section = config.section(role)
    if section is None or url_field in explicit:
        url: str | None = getattr(settings, url_field)
        return url
    component = build_section(role, section, settings)
    built.append(component)
    return component


def build_section(role: str, section: ComponentConfig, settings: Settings) -> BaseComponent:
    """The unopened component a ``{type: ..., config: ...}`` or ``{url: ..., config: ...}`` describes."""
    if section.url is not None:
        try:
            return open_url(section.url, **section.config)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{role}.url: {exc}") from exc
        except TypeError as exc:  # an option the backend's from_url does not take
            raise ConfigurationError(f"{role}.config of {mask_url(section.url)!r}: {exc}") from exc
    assert section.type is not None
    try:
        cls = backend_class(section.type)
    except BackendNotFoundError as exc:
        raise ConfigurationError(f"{role}.type={section.type!r} is invalid: {exc}") from exc
    return cls.from_options(section.config, settings, where=f"{role}.config")


def _shown(ref: Ref | Literal[False]) -> str:
    if ref is False:
        return "off"
    return mask_url(ref) if isinstance(ref, str) else repr(ref)


def role_component(
    ref: Ref, role: type[Any], label: str, owned: dict[str, BaseComponent], settings: Settings
) -> Any:
    """The component ``ref`` names for ``role``, given ``settings``: a URI is opened once per
    application (``owned`` maps the URIs, and the components the application made, to what it
    must close); an object must already serve the role.

    Raises:
        ConfigurationError: ``ref`` cannot serve as ``label``.
    """
    if isinstance(ref, str):
        component = owned.get(ref)
        if component is None:
            component = open_url(ref)
            owned[ref] = component
    else:
        component = ref
    if not isinstance(component, role):
        shown = mask_url(ref) if isinstance(ref, str) else repr(ref)
        raise ConfigurationError(f"{shown} cannot serve as {label}")
    component.use_settings(settings)
    return component


def owned_key(component: BaseComponent) -> str:
    """How an application lists a component it made from objects rather than a URI (``#`` + id,
    which no URI starts with)."""
    return f"#{id(component)}"


def default_event_store(url: str | None, queue_url: str, settings: Settings) -> str | None:
    """Where events go when no event store is given: ``url``, else the ``event_storage_url``
    setting (``off``: nowhere, ``None``), else the task queue's URI."""
    if url is not None:
        return url
    configured = settings.event_storage_url
    if configured is not None and configured.lower() == EVENTS_OFF:
        return None
    return configured or queue_url


def backend_settings(
    worker_type: str | None, worker_config: Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> Settings:
    """The settings of an application built on backend objects: ``worker_config`` (worker
    settings only) and ``worker_type`` as defaults under ``overrides``."""
    worker_settings = dict(worker_config or {})
    check_keys(worker_settings, WORKER_SETTINGS, "in worker_config")
    if worker_type is not None:
        worker_settings["default_worker"] = worker_type
    return Settings.load(**{**worker_settings, **overrides})
