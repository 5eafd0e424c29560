"""The shared conformance suite (``omniq.core.testing``) on the test Redis, a fresh prefix per test."""

import pytest

from omniq.core.testing import BackendConformance


class TestRedisConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, redis_url: str) -> str:
        return redis_url
