import pytest

from omniq.core import ConfigurationError, Settings


def test_precedence_is_arguments_then_env_then_config_then_defaults() -> None:
    config = {"max_workers": 2, "lease_ttl": 30, "project_name": "cfg"}
    env = {"OMNIQ_MAX_WORKERS": "3", "OMNIQ_LEASE_TTL": "45.5", "UNRELATED": "x"}
    settings = Settings.load(config, env=env, max_workers=4)
    assert (settings.max_workers, settings.lease_ttl, settings.project_name) == (4, 45.5, "cfg")
    assert Settings.load(env={}).max_workers == 10


def test_env_values_are_converted_to_the_field_type() -> None:
    settings = Settings.load(
        env={"OMNIQ_ALLOW_DILL": "true", "OMNIQ_SECRET_KEY": "k", "OMNIQ_TASK_TTL": "60"}
    )
    assert settings.allow_dill is True
    assert settings.task_ttl == 60.0


def test_heartbeat_defaults_to_a_third_of_the_lease() -> None:
    assert Settings.load(env={}, lease_ttl=30).effective_heartbeat_interval == 10
    assert Settings.load(env={}, lease_ttl=30, heartbeat_interval=5).effective_heartbeat_interval == 5


def test_default_queue_url_is_an_sqlite_file_in_base_dir() -> None:
    settings = Settings.load(env={}, base_dir="/data", project_name="shop")
    assert settings.queue_url == "sqlite:////data/shop.db"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"env": {"OMNIQ_MAX_WORKERS": "many"}},
            "OMNIQ_MAX_WORKERS='many' is invalid: expected int, got str (setting max_workers)",
        ),
        ({"config": {"max_worker": 1}}, "unknown key 'max_worker' in config; expected one of: project_name"),
        ({"config": {"max_workers": "x"}}, "max_workers='x' in config is invalid: expected int"),
        ({"max_workers": 0}, "max_workers=0 (argument) is invalid: expected an integer of at least 1"),
        ({"lease_ttl": 10, "heartbeat_interval": 20}, "heartbeat_interval=20 (argument) is invalid"),
        (
            {"default_worker": "fibers"},
            "default_worker='fibers' (argument) is invalid: expected one of",
        ),
        ({"env": {"OMNIQ_LOG_LEVEL": "loud"}}, "OMNIQ_LOG_LEVEL='loud' is invalid: expected a log level"),
        (
            {"env": {"OMNIQ_MAX_WORKER": "3"}},
            "environment variable OMNIQ_MAX_WORKER is not a setting: expected OMNIQ_MAX_WORKERS",
        ),
    ],
)
def test_bad_settings_are_one_error_naming_key_value_and_expectation(
    kwargs: dict[str, object], message: str
) -> None:
    env = kwargs.pop("env", {})
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env=env, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_foreign_omniq_variables_are_not_settings_and_are_ignored() -> None:
    settings = Settings.load(env={"OMNIQ_TEST_CALLBACK_LOG": "/tmp/x", "OMNIQ_SOMETHING_ELSE": "1"})
    assert settings == Settings()


def test_every_setting_reads_its_env_variable() -> None:
    values = {
        "project_name": "p",
        "base_dir": "/d",
        "task_queue_url": "memory://q",
        "result_storage_url": "memory://r",
        "event_storage_url": "none",
        "default_queue": "q",
        "default_worker": "thread",
        "max_workers": "3",
        "task_timeout": "4",
        "task_ttl": "5",
        "result_ttl": "6",
        "event_retention": "7",
        "task_retention": "11",
        "dead_retention": "12",
        "retry_attempts": "8",
        "retry_delay": "9",
        "retry_backoff": "1.5",
        "retry_max_delay": "10",
        "lease_ttl": "30",
        "heartbeat_interval": "5",
        "shutdown_grace": "2",
        "scheduler": "false",
        "scheduler_interval": "0.5",
        "poll_interval": "0.1",
        "claim_batch": "7",
        "allow_dill": "true",
        "secret_key": "k",
        "log_level": "debug",
        "allow_any_function": "true",
    }
    lists = {"task_modules": ("myapp.tasks, reports", ("myapp.tasks", "reports"))}
    assert set(values) | set(lists) == set(Settings.__struct_fields__)
    env = {f"OMNIQ_{name.upper()}": value for name, value in values.items()}
    env.update({f"OMNIQ_{name.upper()}": text for name, (text, _) in lists.items()})
    settings = Settings.load(env=env)
    for name, value in values.items():
        got = getattr(settings, name)
        assert str(got).lower() == value or got == float(value), name
    for name, (_, expected) in lists.items():
        assert getattr(settings, name) == expected, name


def test_finished_tasks_are_kept_seven_days_and_dead_ones_until_purged_by_default() -> None:
    settings = Settings.load(env={})
    assert (settings.task_retention, settings.dead_retention) == (7 * 86_400.0, None)


def test_retentions_read_seconds_or_none_from_the_environment() -> None:
    settings = Settings.load(env={"OMNIQ_TASK_RETENTION": "3600", "OMNIQ_DEAD_RETENTION": "86400.5"})
    assert (settings.task_retention, settings.dead_retention) == (3600.0, 86_400.5)
    for word in ("none", "None", "null"):
        settings = Settings.load(env={"OMNIQ_TASK_RETENTION": word, "OMNIQ_EVENT_RETENTION": word})
        assert (settings.task_retention, settings.event_retention) == (None, None)
    # A URL setting's "none" is a value of its own (no event store), not a missing one.
    assert Settings.load(env={"OMNIQ_EVENT_STORAGE_URL": "none"}).event_storage_url == "none"


@pytest.mark.parametrize("name", ["task_retention", "dead_retention"])
@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_retention_is_positive_or_none(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"OMNIQ_{name.upper()}='{value}' is invalid"):
        Settings.load(env={f"OMNIQ_{name.upper()}": value})
    with pytest.raises(ConfigurationError, match=f"{name}=0.0 .*keep the tasks until purged"):
        Settings.load(env={}, **{name: 0.0})  # type: ignore[arg-type]


def test_errors_mask_secrets_in_values() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env={"OMNIQ_SECRET_KEY": "s3cret"}, task_queue_url=5)
    assert "task_queue_url=5" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({"secret_key": 12345}, env={})
    assert "12345" not in str(caught.value) and "secret_key='***'" in str(caught.value)


def test_repr_masks_the_secret_key_and_passwords_in_urls() -> None:
    shown = repr(Settings(secret_key="s3cret", task_queue_url="redis://:hunter2@localhost/0"))
    assert "s3cret" not in shown and "hunter2" not in shown
    assert "redis://:***@localhost/0" in shown and "secret_key='***'" in shown
