import pytest

from omniq.core import (
    AsyncOmniQ,
    BackendNotFoundError,
    ConfigurationError,
    installed_schemes,
    register_backend,
)
from omniq.core.memory import MemoryBackend
from omniq.core.registry import KNOWN_BACKENDS, backend_class, open_url
from omniq.core.urls import mask_url


class PluginBackend(MemoryBackend):
    pass


def test_memory_is_discovered_through_its_entry_point() -> None:
    assert "memory" in installed_schemes()
    assert backend_class("memory") is MemoryBackend


def test_unknown_scheme_lists_installed_schemes() -> None:
    with pytest.raises(BackendNotFoundError, match=r"no backend serves bogus://.*memory"):
        open_url("bogus://x")


def test_known_but_missing_backend_names_the_package() -> None:
    missing = [(s, d) for s, d in KNOWN_BACKENDS.items() if s not in installed_schemes() and s != "unix"]
    scheme, distribution = missing[0]
    with pytest.raises(BackendNotFoundError, match=f"pip install {distribution}"):
        open_url(f"{scheme}://:hunter2@localhost:6379/0")


def test_register_backend_serves_a_new_scheme_by_class_or_path() -> None:
    register_backend("plugin", PluginBackend)
    assert isinstance(open_url("plugin://a"), PluginBackend)
    register_backend("plugin2", f"{__name__}:PluginBackend")
    assert backend_class("plugin2") is PluginBackend


def test_a_target_that_is_not_a_backend_is_refused() -> None:
    register_backend("broken", "builtins:dict")
    with pytest.raises(BackendNotFoundError, match="not a BaseComponent"):
        backend_class("broken")


@pytest.mark.parametrize("url", ["no-scheme", "://x", "sqlite:/one-slash"])
def test_malformed_uri_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="malformed backend URI"):
        AsyncOmniQ(url)


def test_passwords_are_masked() -> None:
    assert mask_url("redis://user:hunter2@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("postgresql://u:p%40ss@h/db?password=x&sslmode=require") == (
        "postgresql://u:***@h/db?password=***&sslmode=require"
    )
    assert mask_url("sqlite:///omniq.db") == "sqlite:///omniq.db"
    assert mask_url("sqlite:///data/a@b.db") == "sqlite:///data/a@b.db"
    # Unescaped '/' or '@' in a password: everything up to the last '@' is hidden.
    assert mask_url("redis://u:pa/ss@host/0") == "redis://u:***@host/0"
    assert mask_url("postgresql://u:p@ss@host/db") == "postgresql://u:***@host/db"
    with pytest.raises(BackendNotFoundError) as caught:
        open_url("nowhere://user:hunter2@localhost:4222")
    assert "hunter2" not in str(caught.value)


#: Every character with a meaning in a URL, as people type them into passwords unescaped.
URL_DELIMITERS = list(":/?#[]@!$&'()*+,;=% ")


@pytest.mark.parametrize("delimiter", URL_DELIMITERS)
@pytest.mark.parametrize(
    "template",
    [
        "redis://:{pw}@127.0.0.1:6379/11",
        "redis://default:{pw}@cache.internal:6379/0?prefix=app",
        "postgresql://app:{pw}@[::1]:5432/db?schema=omniq",
        "nats://user:{pw}@127.0.0.1:4222",
        "redis://127.0.0.1:6379/0?password={pw}",
        "postgresql://db.internal/app?sslmode=require&password={pw}",
        "s3://bucket/omniq?endpoint_url=http://127.0.0.1:5000&secret={pw}",
    ],
)
def test_no_piece_of_a_password_survives_masking(template: str, delimiter: str) -> None:
    words = ["Alpha1", "Bravo2", "Charlie3"]
    url = template.format(pw=delimiter.join(words))
    masked = mask_url(url)
    assert not [word for word in words if word in masked], masked
    assert "***" in masked


@pytest.mark.parametrize(
    ("template", "password"),
    [
        ("redis://:{pw}@127.0.0.1:6379/11", "Delta1?Echo2#Foxtrot3@Golf4/Hotel5&Kilo6=:Lima7%"),
        # In a parameter, "&name=" would start the next parameter for any parser; "&" alone not.
        ("redis://127.0.0.1:6379/11?password={pw}", "Delta1?Echo2#Foxtrot3@Golf4/Hotel5&Kilo6:Lima7%="),
    ],
)
def test_a_password_holding_every_delimiter_at_once_is_masked(template: str, password: str) -> None:
    masked = mask_url(template.format(pw=password))
    for piece in ("Delta1", "Echo2", "Foxtrot3", "Golf4", "Hotel5", "Kilo6", "Lima7"):
        assert piece not in masked, masked
