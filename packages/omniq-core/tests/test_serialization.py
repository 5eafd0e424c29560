import datetime

import pytest

from omniq.core import SerializationError, SerializationManager
from omniq.core.codec import SpecTemplate, TaskSpec, encode_spec
from omniq.core.errors import ConfigurationError
from omniq.core.models import RetryPolicy
from omniq.core.serialization import DILL, MSGPACK


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


def test_plain_values_round_trip_through_msgpack_with_their_tag() -> None:
    manager = SerializationManager()
    value = {"n": 1, "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), "raw": b"\x00"}
    fmt, data = manager.dumps(value)
    assert fmt == MSGPACK
    assert manager.loads(fmt, data) == value


def test_unencodable_value_is_refused_with_its_type_named() -> None:
    with pytest.raises(SerializationError, match="Opaque"):
        SerializationManager().dumps([Opaque(1)])


def test_an_integer_beyond_64_bits_is_refused_with_the_reason() -> None:
    with pytest.raises(SerializationError, match="OverflowError"):
        SerializationManager().dumps({"n": 2**70})


def test_a_value_that_contains_itself_is_refused() -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(SerializationError, match="nested too deeply"):
        SerializationManager().dumps(looped)


def test_dill_requires_a_secret() -> None:
    with pytest.raises(ConfigurationError, match="secret_key"):
        SerializationManager(allow_dill=True)


def test_dill_payloads_are_signed_and_checked() -> None:
    manager = SerializationManager(allow_dill=True, secret_key="s3cret")
    fmt, data = manager.dumps(Opaque(7))
    assert fmt == DILL
    assert manager.loads(fmt, data).value == 7
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(SerializationError, match="signature"):
        manager.loads(fmt, tampered)
    with pytest.raises(SerializationError, match="signature"):
        SerializationManager(allow_dill=True, secret_key="other").loads(fmt, data)


def test_dill_payload_is_refused_when_dill_is_off() -> None:
    fmt, data = SerializationManager(allow_dill=True, secret_key="k").dumps(Opaque(1))
    with pytest.raises(SerializationError, match="disabled"):
        SerializationManager().loads(fmt, data)


def test_corrupt_or_unknown_payloads_raise() -> None:
    manager = SerializationManager()
    with pytest.raises(SerializationError, match="corrupt"):
        manager.loads(MSGPACK, b"\xc1")
    with pytest.raises(SerializationError, match="unknown payload format"):
        manager.loads("pickle", b"")


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65_535, 65_536, 70_000])
@pytest.mark.parametrize("payload_format", ["msgpack", "dill"])
def test_the_spec_template_encodes_exactly_as_encode_spec(size: int, payload_format: str) -> None:
    retry = RetryPolicy(max_retries=2, delay=0.5, backoff=3.0, max_delay=60.0, retry_on=("ValueError",))
    callbacks = (("dead", "m:alert"),)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    template = SpecTemplate(12.5, retry, None, callbacks)
    expected = encode_spec(TaskSpec(payload_format, payload, 12.5, retry, None, callbacks))
    assert template.encode(payload_format, payload) == expected
