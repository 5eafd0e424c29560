"""The shared conformance suite (``omniq.core.testing``) on an SQLite file per test."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from omniq.core.testing import BackendConformance
from omniq.core.testing.corruption import Corrupt


class TestSQLiteConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/omniq.db"

    @pytest.fixture
    def corruptions(self) -> list[tuple[str, Any]]:
        # SQLite keeps any value in any column: text where numbers belong, JSON that is not.
        # (Text in due_at compares above every number, so such a task is never due, hence never
        # claimed; and the claim's attempts + 1 turns text in attempts into a number.)
        return [
            ("depends_on", "not json"),
            ("priority", "high"),
            ("max_attempts", "many"),
            ("created_at", "yesterday"),
        ]

    @pytest.fixture
    def corrupt(self, tmp_path: Path) -> Corrupt:
        async def write(task_id: str, field: str, value: Any) -> None:
            with sqlite3.connect(tmp_path / "omniq.db") as conn:
                conn.execute(f"UPDATE omniq_tasks SET {field} = ? WHERE id = ?", (value, task_id))

        return write
