import os
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


def test_ids_of_one_process_grow_even_within_a_millisecond() -> None:
    ids = [new_id() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    parent_id = new_id()
    # Same milliseconds maybe, but the 74 bits after them come from different random starts.
    assert child_id[12:] != parent_id[12:]
    assert abs(int(child_id[13:], 16) - int(parent_id[13:], 16)) > 1000
