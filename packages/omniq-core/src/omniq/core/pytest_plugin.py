"""pytest plugin of omniq-core (entry point ``pytest11``).

- Plain ``assert`` in the conformance suite reports the compared values.
- ``--fail-on-skip`` turns every skipped test into a failure: CI uses it so that a backend test
  skipped for a missing service or driver cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

pytest.register_assert_rewrite("omniq.core.testing")


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
    if report.skipped and item.config.getoption("--fail-on-skip") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but --fail-on-skip is set: {report.longrepr}"
    return report
