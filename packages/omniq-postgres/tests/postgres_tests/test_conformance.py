"""The shared conformance suite (``omniq.core.testing``) on a PostgreSQL schema per test."""

import pytest

from omniq.core.testing import BackendConformance


class TestPostgresConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, url: str) -> str:
        return url
