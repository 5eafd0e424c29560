"""UnwaitedTasks: the shortcut backends take for finished tasks nothing waits on."""

from __future__ import annotations

from omniq.core.unwaited import UnwaitedTasks


def test_a_noted_id_is_answered_once_then_asked_about_again() -> None:
    unwaited = UnwaitedTasks()
    unwaited.note(["a", "b"])
    assert unwaited.unknown(["a", "c"]) == ["c"]
    assert unwaited.unknown(["a", "b"]) == ["a"]


def test_past_its_size_the_memory_starts_over() -> None:
    unwaited = UnwaitedTasks(kept=2)
    unwaited.note(["a", "b", "c"])
    unwaited.note(["d"])
    assert unwaited.unknown(["a", "d"]) == ["a"]
