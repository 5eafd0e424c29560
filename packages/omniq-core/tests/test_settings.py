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
        ({"env": {"OMNIQ_MAX_WORKERS": "many"}}, "max_workers (env OMNIQ_MAX_WORKERS)"),
        ({"config": {"max_worker": 1}}, "unknown setting 'max_worker' in config"),
        ({"max_workers": 0}, "max_workers must be an integer of at least 1"),
        ({"lease_ttl": 10, "heartbeat_interval": 20}, "heartbeat_interval must be"),
        ({"default_worker": "fibers"}, "default_worker"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, object], message: str) -> None:
    env = kwargs.pop("env", {})
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.load(env=env, **kwargs)  # type: ignore[arg-type]


def test_repr_masks_the_secret_key_and_passwords_in_urls() -> None:
    shown = repr(Settings(secret_key="s3cret", task_queue_url="redis://:hunter2@localhost/0"))
    assert "s3cret" not in shown and "hunter2" not in shown
    assert "redis://:***@localhost/0" in shown and "secret_key='***'" in shown
