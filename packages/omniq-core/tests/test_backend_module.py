"""``omniq.core.backend``: the one import a backend needs; and what core tells a backend's users."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any, cast

import pytest

import omniq.core.backend
from omniq.core import registry
from omniq.core.codec import decode_error
from omniq.core.interfaces import BaseTaskQueue
from omniq.core.records import LEASE_EXPIRED, LEASE_EXPIRED_ERROR
from omniq.core.worker import _recovery


def test_the_backend_module_exports_the_whole_task_queue_contract() -> None:
    exported = set(omniq.core.backend.__all__)
    assert {
        "BaseTaskQueue",
        "TaskAdmin",
        "FinishReport",
        "TaskChange",
        "Capability",
        "register_backend",
    } <= exported
    for name in exported:
        assert getattr(omniq.core.backend, name) is not None
    # Every type in a required method's signature is exported.
    hints = " ".join(
        str(getattr(BaseTaskQueue, name).__annotations__) for name in BaseTaskQueue.__abstractmethods__
    )
    for record in ("TaskRecord", "Outcome", "FinishReport", "ReapReport", "DependencyReport", "TaskChange"):
        assert record in hints and record in exported


def _entry_point(name: str, version: str) -> Any:
    return cast(Any, SimpleNamespace(dist=SimpleNamespace(name=name, version=version)))


def test_a_third_party_backend_on_its_own_version_line_is_not_told_to_change_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_core_version", lambda: "0.1.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry._warn_on_version_skew(_entry_point("omniq-mongodb", "0.3.0"))
    with pytest.warns(RuntimeWarning, match="omniq-sqlite 0.3.0 is installed beside omniq-core 0.1.0"):
        registry._warn_on_version_skew(_entry_point("omniq-sqlite", "0.3.0"))


def test_the_lease_expired_error_is_one_text_stored_and_given_to_hooks() -> None:
    assert decode_error(LEASE_EXPIRED_ERROR) == LEASE_EXPIRED
    assert LEASE_EXPIRED.type == "omniq.LeaseExpired"
    assert vars(_recovery)["LEASE_EXPIRED"] is LEASE_EXPIRED  # the worker's retry hooks get the same error
    assert omniq.core.backend.LEASE_EXPIRED_ERROR == LEASE_EXPIRED_ERROR
