import time
import uuid

from omniq.core.ids import new_id


def test_ids_are_version_7_uuids_that_sort_by_creation_time() -> None:
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first < second
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert abs(int(first[:12], 16) / 1000 - time.time()) < 60


def test_ids_are_unique() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
