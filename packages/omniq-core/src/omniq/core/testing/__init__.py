"""The backend conformance suite: one set of semantic rules, proven on every backend.

A backend's tests subclass a suite class and override the ``backend_url`` fixture so that it
returns the URL of a fresh, empty store for each test::

    import pytest
    from omniq.core.testing import BackendConformance

    class TestFooConformance(BackendConformance):
        @pytest.fixture
        def backend_url(self, tmp_path) -> str:
            return f"foo:///{tmp_path}/store"

``BackendConformance`` includes the multi-process and crash (SIGKILL) tests; a backend whose store
lives inside one process (like ``memory://``) subclasses ``InProcessBackendConformance`` instead.
Needs ``pip install omniq-core[testing]``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omniq.core.testing.cancellation import CancellationProcessTests, CancellationTests
    from omniq.core.testing.components import ComponentTests
    from omniq.core.testing.contract import ContractTests
    from omniq.core.testing.corruption import CorruptRecordTests
    from omniq.core.testing.dependencies import DependencyTests
    from omniq.core.testing.expiry import ExpiryTests
    from omniq.core.testing.hostile import HostileInputTests
    from omniq.core.testing.maintenance import MaintenanceTests
    from omniq.core.testing.processes import ProcessTests
    from omniq.core.testing.retention import RetentionTests
    from omniq.core.testing.schedules import ScheduleTests
    from omniq.core.testing.semantics import SemanticsTests
    from omniq.core.testing.storage import StorageTests
    from omniq.core.testing.suite import BackendConformance, InProcessBackendConformance

__all__ = [
    "BackendConformance",
    "CancellationProcessTests",
    "CancellationTests",
    "ComponentTests",
    "ContractTests",
    "CorruptRecordTests",
    "DependencyTests",
    "ExpiryTests",
    "HostileInputTests",
    "InProcessBackendConformance",
    "MaintenanceTests",
    "ProcessTests",
    "RetentionTests",
    "ScheduleTests",
    "SemanticsTests",
    "StorageTests",
]

# Loaded on first use, so that worker processes importing ``omniq.core.testing.tasks`` do not pay
# for (or need) pytest.
_HOMES = {
    "BackendConformance": "suite",
    "InProcessBackendConformance": "suite",
    "CancellationProcessTests": "cancellation",
    "CancellationTests": "cancellation",
    "ComponentTests": "components",
    "ContractTests": "contract",
    "HostileInputTests": "hostile",
    "MaintenanceTests": "maintenance",
    "CorruptRecordTests": "corruption",
    "DependencyTests": "dependencies",
    "ExpiryTests": "expiry",
    "ProcessTests": "processes",
    "RetentionTests": "retention",
    "ScheduleTests": "schedules",
    "SemanticsTests": "semantics",
    "StorageTests": "storage",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
