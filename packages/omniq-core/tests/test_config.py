import json
import logging
import re
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError, OmniQ, Settings
from omniq.core.components import ScheduledTaskQueueView
from omniq.core.config import ComponentConfig, OmniQConfig, read_config_file
from omniq.core.memory import MemoryBackend
from omniq.core.memory_components import (
    AsyncMemoryEventStorage,
    AsyncMemoryResultStorage,
    AsyncMemoryTaskQueue,
    MemoryEventStorage,
    MemoryResultStorage,
    MemoryTaskQueue,
)
from omniq.core.registry import KNOWN_BACKENDS, installed_schemes
from omniq.core.sync_components import SyncWorker
from omniq.core.testing import tasks
from omniq.core.testing._support import make_record
from omniq.core.urls import build_url, mask_url, split_url

#: A scheme of one of OmniQ's own backends that is not installed here (the tests need one missing).
MISSING = next(scheme for scheme in KNOWN_BACKENDS if scheme not in installed_schemes() and scheme != "unix")


def _name() -> str:
    return uuid.uuid4().hex


def _store(component: Any) -> str:
    backend = getattr(component, "backend", component)
    assert isinstance(backend, MemoryBackend)
    return backend.name


def test_from_dict_builds_each_component_from_its_section() -> None:
    queue, results = _name(), _name()
    app = AsyncOmniQ.from_dict(
        {
            "project_name": "shop",
            "task_queue": {"type": "memory", "config": {"name": queue}},
            "result_store": f"memory://{results}",
            "event_store": "none",
            "worker": {"type": "thread_pool", "config": {"max_workers": 3}},
        },
        lease_ttl=12,
    )
    assert (_store(app.task_queue), _store(app.result_store), app.event_store) == (queue, results, None)
    settings = app.settings
    assert (settings.project_name, settings.default_worker, settings.max_workers, settings.lease_ttl) == (
        "shop",
        "thread_pool",
        3,
        12.0,
    )


def test_results_and_events_follow_a_task_queue_built_from_a_section() -> None:
    app = AsyncOmniQ.from_dict({"task_queue": {"type": "memory", "config": {"name": _name()}}})
    components: list[object] = [app.task_queue, app.result_store, app.event_store]
    assert all(component is app.task_queue for component in components)


def test_memory_type_defaults_its_name_to_the_project() -> None:
    project = _name()
    app = AsyncOmniQ.from_dict({"project_name": project, "task_queue": {"type": "memory"}})
    assert _store(app.task_queue) == project


def test_env_wins_over_the_config_and_arguments_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = _name()
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", f"memory://{from_env}")
    monkeypatch.setenv("OMNIQ_MAX_WORKERS", "7")
    config = {"task_queue": {"type": "memory", "config": {"name": _name()}}, "max_workers": 2}
    app = AsyncOmniQ.from_dict(config)
    assert (_store(app.task_queue), app.settings.max_workers) == (from_env, 7)
    argument = _name()
    app = AsyncOmniQ.from_dict(config, task_queue_url=f"memory://{argument}", max_workers=9)
    assert (_store(app.task_queue), app.settings.max_workers) == (argument, 9)


def test_from_env_reads_omniq_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    name = _name()
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", f"memory://{name}")
    monkeypatch.setenv("OMNIQ_EVENT_STORAGE_URL", "none")
    for cls in (AsyncOmniQ, OmniQ):
        app = cls.from_env(max_workers=4)
        aio = app if isinstance(app, AsyncOmniQ) else app.aio
        assert (_store(aio.task_queue), aio.event_store, aio.settings.max_workers) == (name, None, 4)


def test_from_config_takes_a_config_struct() -> None:
    name = _name()
    config = OmniQConfig(task_queue=ComponentConfig(url=f"memory://{name}"), max_workers=5)
    with OmniQ.from_config(config) as oq:
        assert _store(oq.aio.task_queue) == name and oq.settings.max_workers == 5
        task_id = oq.enqueue(tasks.add, {"a": 1, "b": 2})
        oq.start_worker("thread")
        result = oq.get_result(task_id, timeout=30)
        assert result is not None and result.value == 3


YAML = """
project_name: shop
max_workers: 4
task_queue: {{type: memory, config: {{name: {name}}}}}
worker: {{type: thread, config: {{max_workers: 6}}}}
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml", ".json"])
def test_from_config_file_reads_yaml_toml_and_json(tmp_path: Path, suffix: str) -> None:
    name = _name()
    data = {
        "project_name": "shop",
        "max_workers": 4,
        "task_queue": {"type": "memory", "config": {"name": name}},
        "worker": {"type": "thread", "config": {"max_workers": 6}},
    }
    path = tmp_path / f"omniq{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".toml":
        path.write_text(
            'project_name = "shop"\nmax_workers = 4\n'
            f'[task_queue]\ntype = "memory"\nconfig = {{ name = "{name}" }}\n'
            '[worker]\ntype = "thread"\nconfig = { max_workers = 6 }\n'
        )
    else:
        path.write_text(YAML.format(name=name))
    assert read_config_file(path) == data
    app = AsyncOmniQ.from_config_file(path)
    assert (_store(app.task_queue), app.settings.project_name, app.settings.max_workers) == (name, "shop", 6)
    assert app.settings.default_worker == "thread"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("a: [1", "bad.yaml", "config file '{path}' is not valid yaml"),
        ("- 1\n- 2\n", "list.yaml", "config file '{path}' must hold a mapping of settings, got list"),
        ("x = 1", "omniq.ini", "config file '{path}': expected a .yaml, .yml, .toml or .json file"),
        (None, "missing.yaml", "cannot read the config file '{path}'"),
    ],
)
def test_unreadable_config_files_are_one_error(
    tmp_path: Path, content: str | None, name: str, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        AsyncOmniQ.from_config_file(path)
    assert str(caught.value).startswith(message.format(path=path))


def test_an_empty_file_is_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_URL", f"memory://{_name()}")
    (tmp_path / "omniq.yaml").write_text("")
    assert AsyncOmniQ.from_config_file(tmp_path / "omniq.yaml").settings.max_workers == 10


def test_yaml_without_pyyaml_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    (tmp_path / "omniq.yaml").write_text("max_workers: 2\n")
    with pytest.raises(ConfigurationError, match=re.escape("pip install 'omniq-core[yaml]'")):
        OmniQ.from_config_file(tmp_path / "omniq.yaml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_worker": 2}, "unknown key 'max_worker' in config; expected one of: project_name"),
        ({"max_workers": "ten"}, "max_workers='ten' in config is invalid: expected int, got str"),
        ({"max_workers": 0}, "max_workers=0 in config is invalid: expected an integer of at least 1"),
        ({"task_queue": {"typ": "memory"}}, "unknown key 'typ' in section task_queue of config"),
        ({"task_queue": 5}, "task_queue=5 in config is invalid: expected str | object | null, got int"),
        ({"task_queue": {"type": "memory", "url": "memory://x"}}, "task_queue in config is invalid: give"),
        (
            {"task_queue": {"type": "nosuch"}},
            "task_queue.type='nosuch' is invalid: no backend serves nosuch://",
        ),
        (
            {"task_queue": {"type": MISSING}},
            f"task_queue.type={MISSING!r} is invalid: the {MISSING}:// backend is not",
        ),
        (
            {"task_queue": {"type": "memory", "config": {"nme": "x"}}},
            "unknown key 'nme' in task_queue.config",
        ),
        ({"task_queue": {"type": "memory", "config": {"name": 5}}}, "task_queue.config.name=5 is invalid"),
        ({"worker": {"type": "fibers"}}, "worker.type='fibers' in config is invalid: expected one of async"),
        (
            {"worker": {"config": {"max_workers": "x"}}},
            "max_workers='x' in worker.config of config is invalid",
        ),
        ({"worker": {"config": {"base_dir": "x"}}}, "unknown key 'base_dir' in section worker.config"),
        (
            {"task_queue": "memory://a", "task_queue_url": "memory://b"},
            "invalid configuration in config: give",
        ),
        ([1, 2], "config must be a mapping of settings, got list"),
    ],
)
def test_bad_config_is_one_error_naming_key_value_and_expectation(data: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncOmniQ.from_dict(data)
    assert str(caught.value).startswith(message)


def test_secrets_are_masked_in_errors_and_reprs() -> None:
    secret_url = f"{MISSING}://:hunter2@localhost/0"
    for data in (
        {"task_queue": {"url": secret_url}},
        {"task_queue": secret_url},
        {"task_queue_url": 5, "secret_key": "hunter2"},
        {"task_queue": {"type": "memory", "config": {"password": "hunter2"}}},
    ):
        with pytest.raises(ConfigurationError) as caught:
            AsyncOmniQ.from_dict(data)
        assert "hunter2" not in str(caught.value), data
    config = OmniQConfig.from_dict(
        {"task_queue": {"url": secret_url, "config": {"password": "hunter2"}}, "secret_key": "hunter2"}
    )
    assert "hunter2" not in repr(config) and f"{MISSING}://:***@localhost/0" in repr(config)


def test_wiring_logs_under_omniq_with_urls_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="omniq"):
        AsyncOmniQ.from_dict({"task_queue": f"memory://{_name()}", "result_store": "memory://u:hunter2@r"})
    lines = [r for r in caplog.records if r.name == "omniq.config"]
    assert lines and all("hunter2" not in r.getMessage() for r in lines)
    assert any("memory://u:***@r" in r.getMessage() for r in lines)


def test_log_level_sets_the_omniq_logger_and_only_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("omniq")
    previous = logger.level
    logger.setLevel(logging.NOTSET)
    try:
        AsyncOmniQ(f"memory://{_name()}")
        assert logger.level == logging.NOTSET
        monkeypatch.setenv("OMNIQ_LOG_LEVEL", "debug")
        AsyncOmniQ.from_env(task_queue_url=f"memory://{_name()}")
        assert logger.level == logging.DEBUG
        assert logging.getLogger("omniq.worker").getEffectiveLevel() == logging.DEBUG
    finally:
        logger.setLevel(previous)


def test_library_loggers_are_all_named_under_omniq() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "omniq" / "core"
    names = set()
    for source in root.rglob("*.py"):
        names |= set(re.findall(r"getLogger\((.*?)\)", source.read_text()))
    assert names and all(re.fullmatch(r'"omniq(\.\w+)*"|LOGGER_NAME', name) for name in names), names


def test_from_backend_uses_one_object_per_role_and_closes_it() -> None:
    backend, results = MemoryBackend(_name()), MemoryBackend(_name())
    app = OmniQ.from_backend(
        backend,
        result_store_backend=results,
        event_store_backend=False,
        worker_type="thread",
        worker_config={"max_workers": 2},
        lease_ttl=30,
    )
    with app as oq:
        assert (oq.aio.task_queue, oq.aio.result_store, oq.aio.event_store) == (backend, results, None)
        settings = oq.settings
        assert (settings.default_worker, settings.max_workers, settings.lease_ttl) == ("thread", 2, 30)
        task_id = oq.enqueue(tasks.add, {"a": 2, "b": 2})
        oq.start_worker()
        assert oq.get_result(task_id, timeout=30).value == 4  # type: ignore[union-attr]
    assert set(map(id, app.aio._owned.values())) == {id(backend), id(results)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"worker_config": {"max_worker": 2}}, "unknown key 'max_worker' in worker_config"),
        ({"worker_type": "fibers"}, "default_worker='fibers' (argument) is invalid"),
        ({"result_store_backend": AsyncMemoryTaskQueue(name="x")}, "cannot serve as result storage"),
    ],
)
def test_from_backend_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        AsyncOmniQ.from_backend(MemoryBackend(_name()), **kwargs)


def test_settings_alone_are_unchanged_by_a_config_struct() -> None:
    assert OmniQConfig().settings_layer() == {
        name: getattr(Settings(), name) for name in Settings.__struct_fields__
    }


async def test_component_classes_are_built_from_their_role_section() -> None:
    queue, results = _name(), _name()
    data = {
        "task_queue": {"type": "memory", "config": {"name": queue}},
        "result_store": f"memory://{results}",
    }
    assert AsyncMemoryTaskQueue.from_dict(data).backend.name == queue  # type: ignore[attr-defined]
    assert AsyncMemoryResultStorage.from_dict(data).backend.name == results  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="_SpecialQueue needs a _Special"):
        _SpecialQueue.from_dict({"task_queue": f"memory://{queue}"})
    with pytest.raises(ConfigurationError, match="event_store is turned off"):
        AsyncMemoryEventStorage.from_dict({"task_queue": f"memory://{queue}", "event_store": "none"})


class _Special(MemoryBackend):
    pass


class _SpecialQueue(ScheduledTaskQueueView):
    backend_type = _Special


def test_blocking_components_share_a_loop_with_a_worker_made_from_them() -> None:
    name = _name()
    with MemoryTaskQueue(name=name) as queue, MemoryResultStorage(name=name) as results:
        assert queue.portal is results.portal  # the shared loop: one worker can drive both
        record = make_record("omniq.core.testing.tasks:add", kwargs={"a": 1, "b": 2})
        queue.enqueue([record])
        with SyncWorker.create("thread", queue=queue, result_store=results, max_workers=2):
            stored = results.wait_for_result(record.id, 30)
        assert stored is not None and queue.count_tasks()["default"] == {"completed": 1}
    with MemoryEventStorage.from_dict({"task_queue": f"memory://{name}"}) as events:
        assert repr(events) == f"MemoryEventStorage(MemoryBackend({name!r}))"
        assert events.query_events(task_id=record.id) == []


def test_the_sync_facade_runs_on_the_loop_of_blocking_components_it_is_given() -> None:
    name = _name()
    queue = MemoryTaskQueue(name=name)
    with OmniQ(task_queue=queue, result_store=MemoryResultStorage(name=name), event_store=False) as oq:
        assert oq._portal is queue.portal and oq.aio.task_queue is queue.aio
        task_id = oq.enqueue(tasks.add, {"a": 5, "b": 5})
        oq.start_worker("thread")
        assert oq.get_result(task_id, timeout=30).value == 10  # type: ignore[union-attr]
    assert queue.portal.started  # not the application's to stop
    assert queue.count_tasks()["default"] == {"completed": 1}


def test_views_forward_to_the_backend_and_refuse_mixed_arguments() -> None:
    backend = MemoryBackend(_name())
    assert AsyncMemoryTaskQueue(backend).backend is backend
    with pytest.raises(TypeError, match="a backend or its options, not both"):
        AsyncMemoryTaskQueue(backend, name="x")
    with pytest.raises(ConfigurationError, match="unexpected keyword argument 'nme'"):
        AsyncMemoryTaskQueue(nme="x")
    with pytest.raises(ConfigurationError, match="AsyncMemoryTaskQueue: "):
        AsyncMemoryTaskQueue(MemoryBackend, 1, 2)


@pytest.mark.parametrize("password", ["p@ss:w/o?r#d", "%41%", "a b&c=d", "ünï", "[x]:9"])
def test_a_built_url_reads_back_the_credentials_it_was_given(password: str) -> None:
    url = build_url("redis", host="::1", port=6379, username="us@r:x", password=password, path="3")
    parts = split_url(url, "Redis", "")
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("us@r:x", password)
    assert (parts.hostname, parts.port, parts.path) == ("::1", 6379, "/3")
    assert password not in mask_url(url)
