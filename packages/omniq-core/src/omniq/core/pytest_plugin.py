"""pytest plugin of omniq-core (entry point ``pytest11``).

- Plain ``assert`` in the conformance suite reports the compared values.
- ``--fail-on-skip`` turns every skipped test into a failure: CI uses it so that a backend test
  skipped for a missing service or driver cannot pass unnoticed.
- The fixtures ``omniq_app`` and ``omniq_blocking_app``: an application on a fresh memory store,
  for testing your own tasks with :func:`omniq.core.testkit.drain` (see that module).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.sync import OmniQ
from omniq.core.testkit import memory_app, memory_blocking_app

pytest.register_assert_rewrite("omniq.core.testing")

__all__ = ["NotDeclared"]


class NotDeclared(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """A conformance test left out because the backend does not declare a capability it needs
    (see :func:`omniq.core.testing._support.requires`): not a skip that ``--fail-on-skip`` turns
    into a failure, since nothing is missing from the test set-up."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the conformance suite's ``omniq_requires`` marker."""
    config.addinivalue_line(
        "markers", "omniq_requires(*capabilities): run only where the backend declares these capabilities"
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--fail-on-skip``."""
    parser.addoption(
        "--fail-on-skip",
        action="store_true",
        help="report skipped tests as failures (CI: every backend must really run)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a skip into a failure when ``--fail-on-skip`` is given."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NotDeclared):
        return report  # left out by the backend's declared capabilities, not by a missing service
    if report.skipped and item.config.getoption("--fail-on-skip") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but --fail-on-skip is set: {report.longrepr}"
    return report


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without the extra there is no async fixture
    pass
else:

    @pytest_asyncio.fixture
    async def omniq_app() -> AsyncIterator[AsyncOmniQ]:
        """An open :class:`AsyncOmniQ` on a new memory store (needs pytest-asyncio: the extra
        ``omniq-core[testing]``); its worker, if started, is stopped after."""
        async with memory_app() as app:
            yield app


@pytest.fixture
def omniq_blocking_app() -> Iterator[OmniQ]:
    """An open :class:`OmniQ` on a new memory store."""
    with memory_blocking_app() as app:
        yield app
