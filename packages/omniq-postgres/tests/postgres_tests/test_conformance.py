"""The shared conformance suite (``omniq.core.testing``) on a PostgreSQL schema per test."""

from typing import Any

import asyncpg
import pytest

from omniq.core.testing import BackendConformance
from omniq.core.testing.corruption import Corrupt


class TestPostgresConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, url: str) -> str:
        return url

    @pytest.fixture
    def corruptions(self) -> list[tuple[str, Any]]:
        # Columns are typed, so numbers stay numbers; JSON can still have the wrong shape.
        return [("depends_on", '{"not": "a list"}'), ("depends_on", "[1, 2]")]

    @pytest.fixture
    def corrupt(self, server_url: str, schema: str) -> Corrupt:
        async def write(task_id: str, field: str, value: Any) -> None:
            kind = "jsonb" if field == "depends_on" else "text"
            conn = await asyncpg.connect(server_url)
            try:
                await conn.execute(
                    f'UPDATE "{schema}".tasks SET {field} = $1::{kind} WHERE id = $2',
                    value,
                    task_id,
                )
            finally:
                await conn.close()

        return write
