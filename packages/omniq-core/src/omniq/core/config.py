"""The configuration a YAML file, a dict or the environment describes: settings plus components.

The shape is the plan's: every setting at the top level, and optional sections naming the backend of
each component and the worker::

    project_name: shop
    task_queue:   {type: sqlite, config: {base_dir: /var/lib/shop}}
    result_store: {url: "sqlite:////var/lib/shop/results.db"}
    event_store:  none
    worker:       {type: thread_pool, config: {max_workers: 10}}

A section is a URI string, ``{url: ..., config: {...}}`` (``config`` are the URI's options) or
``{type: <scheme>, config: {...}}`` (the backend builds itself from ``config``; see
:meth:`~omniq.core.interfaces.BaseComponent.from_options`). Validation happens here, before any
backend is imported, so a bad file fails with one message naming the key, the value and what was
expected.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.settings import EVENTS_OFF, Settings, WorkerType, check_keys, expected_from, shown_value

__all__ = [
    "COMPONENT_ROLES",
    "WORKER_SETTINGS",
    "ComponentConfig",
    "OmniQConfig",
    "WorkerConfig",
    "read_config_file",
]

#: Component sections and the setting holding the same component's URI.
COMPONENT_ROLES = {
    "task_queue": "task_queue_url",
    "result_store": "result_storage_url",
    "event_store": "event_storage_url",
}

#: Settings a ``worker.config`` section (and ``from_backend(worker_config=...)``) may set.
WORKER_SETTINGS = (
    "max_workers",
    "default_queue",
    "lease_ttl",
    "heartbeat_interval",
    "poll_interval",
    "claim_batch",
    "shutdown_grace",
    "scheduler",
    "scheduler_interval",
)


class ComponentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One component: a backend ``type`` (a URI scheme) with its ``config``, or a ``url`` with options."""

    type: str | None = None
    url: str | None = None
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if (self.type is None) == (self.url is None):
            raise ValueError("give 'type' (with 'config') or 'url', not both and not neither")

    def __repr__(self) -> str:
        """Passwords in the URI and secret-looking options masked: configurations get logged."""
        options = {key: shown_value(key, value) for key, value in self.config.items()}
        source = f"type={self.type!r}" if self.type else f"url={shown_value('url', self.url)!r}"
        return f"ComponentConfig({source}, config={options!r})"


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The worker: its kind and the worker settings (``max_workers``, ``lease_ttl``, ...)."""

    type: WorkerType | None = None
    config: dict[str, Any] = {}


class OmniQConfig(Settings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting, plus where each component lives and which worker runs.

    Settings from a config are the ``config`` layer of :meth:`Settings.load`: ``OMNIQ_*`` variables
    and explicit arguments still win over them, and an ``OMNIQ_TASK_QUEUE_URL`` (say) wins over a
    ``task_queue`` section.
    """

    task_queue: ComponentConfig | str | None = None
    result_store: ComponentConfig | str | None = None
    event_store: ComponentConfig | str | None = None
    worker: WorkerConfig | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for section, url_field in COMPONENT_ROLES.items():
            if getattr(self, section) is not None and getattr(self, url_field) is not None:
                raise ValueError(f"give {section} or {url_field}, not both")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> OmniQConfig:
        """Validate ``data`` (the shape of a config file); ``source`` names it in errors."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{source} must be a mapping of settings, got {type(data).__name__}")
        check_keys(data, cls.__struct_fields__, f"in {source}")
        for section in (*COMPONENT_ROLES, "worker"):
            value = data.get(section)
            if isinstance(value, Mapping):
                known = WorkerConfig if section == "worker" else ComponentConfig
                check_keys(value, known.__struct_fields__, f"in section {section} of {source}")
        try:
            config = msgspec.convert(dict(data), cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(_describe(exc, data, source)) from exc
        if config.worker is not None:
            check_keys(config.worker.config, WORKER_SETTINGS, f"in section worker.config of {source}")
            Settings.load(config.worker.config, env={}, config_source=f"worker.config of {source}")
        return config

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> OmniQConfig:
        """Read a YAML (``.yaml``/``.yml``, needs ``omniq-core[yaml]``), TOML or JSON file."""
        return cls.from_dict(read_config_file(path), source=str(path))

    def settings_layer(self) -> dict[str, Any]:
        """The settings this config sets, the worker section folded in (the ``config`` layer)."""
        layer = {name: getattr(self, name) for name in Settings.__struct_fields__}
        if self.worker is not None:
            if self.worker.type is not None:
                layer["default_worker"] = self.worker.type
            layer.update(self.worker.config)
        for section, url_field in COMPONENT_ROLES.items():
            value = getattr(self, section)
            if isinstance(value, str):
                layer[url_field] = value
        return layer

    def section(self, role: str) -> ComponentConfig | None:
        """The ``type``/``url`` section of a component role (a plain URI is a setting instead)."""
        value = getattr(self, role)
        return value if isinstance(value, ComponentConfig) else None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping a configuration file holds (empty for an empty file)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the config file {str(file)!r}: {exc.strerror}") from exc
    suffix = file.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = _yaml_load(text, file)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = msgspec.json.decode(text) if text.strip() else None
        else:
            raise ConfigurationError(
                f"config file {str(file)!r}: expected a .yaml, .yml, .toml or .json file"
            )
    except ConfigurationError:
        raise
    except Exception as exc:  # each parser has its own error class; all mean "not parseable"
        raise ConfigurationError(f"config file {str(file)!r} is not valid {suffix[1:]}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"config file {str(file)!r} must hold a mapping of settings, got {type(data).__name__}"
        )
    return data


def _yaml_load(text: str, file: Path) -> Any:
    try:
        import yaml  # noqa: PLC0415 - an optional extra, needed for YAML files only
    except ImportError as exc:
        if exc.name != "yaml":
            raise
        raise ConfigurationError(
            f"reading the YAML file {str(file)!r} needs PyYAML: pip install 'omniq-core[yaml]'"
        ) from exc
    return yaml.safe_load(text)


def _describe(exc: msgspec.ValidationError, data: Mapping[str, Any], source: str) -> str:
    message, _, at = str(exc).partition(" - at `$.")
    path = at.rstrip("`") if at else ""
    cause = exc.__cause__
    if isinstance(cause, ValueError) and not path:
        # A check in __post_init__; Settings' own checks name their field.
        field = getattr(cause, "field", None)
        if field is None:
            return f"invalid configuration in {source}: {cause}"
        expected = getattr(cause, "expected", "")
        shown = shown_value(field, data.get(field))
        return f"{field}={shown!r} in {source} is invalid: expected {expected}"
    value: Any = data
    for part in path.split(".") if path else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(cause, ValueError):  # a section's own check: value is that section
        return f"{path} in {source} is invalid: {cause}"
    expected = expected_from(message)
    hint = ""
    if path in COMPONENT_ROLES:
        hint = " (a URI, {type: ..., config: {...}} or {url: ..., config: {...}})"
        if path == "event_store":
            hint = hint[:-1] + f", or {EVENTS_OFF!r} for no events)"
    shown = shown_value(path.rpartition(".")[2], value)
    return f"{path}={shown!r} in {source} is invalid: expected {expected}{hint}"
