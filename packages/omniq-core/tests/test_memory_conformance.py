"""The conformance suite on the in-memory backend (one process: no multi-process tests)."""

import uuid

import pytest

from omniq.core.testing import InProcessBackendConformance


class TestMemoryConformance(InProcessBackendConformance):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://test-{uuid.uuid4().hex}"
