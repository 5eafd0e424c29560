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

from omniq.core.testing.contract import ContractTests
from omniq.core.testing.processes import ProcessTests
from omniq.core.testing.semantics import SemanticsTests

__all__ = [
    "BackendConformance",
    "ContractTests",
    "InProcessBackendConformance",
    "ProcessTests",
    "SemanticsTests",
]


class InProcessBackendConformance(ContractTests, SemanticsTests):
    """Every rule that one process can prove."""


class BackendConformance(InProcessBackendConformance, ProcessTests):
    """Every rule, including several worker processes and a worker killed mid-task."""
