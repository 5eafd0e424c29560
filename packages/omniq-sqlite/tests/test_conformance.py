"""The shared conformance suite (``omniq.core.testing``) on an SQLite file per test."""

from pathlib import Path

import pytest

from omniq.core.testing import BackendConformance


class TestSQLiteConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/omniq.db"
