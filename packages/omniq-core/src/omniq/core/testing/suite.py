"""The conformance suite classes that backends subclass (see the package docstring)."""

from omniq.core.testing.cancellation import CancellationProcessTests, CancellationTests
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
from omniq.core.testing.transition_events import TransitionEventTests

__all__ = ["BackendConformance", "InProcessBackendConformance"]


class InProcessBackendConformance(
    ContractTests,
    StorageTests,
    SemanticsTests,
    CancellationTests,
    ExpiryTests,
    ScheduleTests,
    DependencyTests,
    HostileInputTests,
    MaintenanceTests,
    RetentionTests,
    TransitionEventTests,
):
    """Every rule that one process can prove."""


class BackendConformance(
    InProcessBackendConformance, ProcessTests, CancellationProcessTests, CorruptRecordTests
):
    """Every rule, including several worker processes, a worker killed mid-task and records
    corrupted in the store."""
