"""Checks for the whole workspace: ``nox`` runs lint, type checks, every package's tests, the
integration tests and the chaos tests.

Each package is tested in an environment holding only omniq-core and that package, so that an
undeclared dependency fails its tests.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = sorted(path.name for path in (ROOT / "packages").iterdir() if (path / "pyproject.toml").exists())
TEST_EXTRAS = ["pytest-timeout>=2.3"]
# Checkers pinned, so that a new release cannot turn a green tree red overnight.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
PYTEST = ("pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "--fail-on-skip")


def _editable(session: nox.Session, *packages: str) -> None:
    session.install(*(arg for package in packages for arg in ("-e", f"packages/{package}")))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's sources and tests."""
    session.install(
        MYPY, "types-croniter", "types-PyYAML", "nox", "-e", "packages/omniq-core[testing,dill,gevent,yaml]"
    )
    _editable(session, *(p for p in PACKAGES if p != "omniq-core"))
    session.run("mypy", "packages", "tests-integration", "tests-chaos", "benchmarks", "noxfile.py")


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, with only omniq-core and that package installed."""
    session.install("-e", "packages/omniq-core[testing,dill,gevent,yaml]", *TEST_EXTRAS)
    if package != "omniq-core":
        _editable(session, package)
    session.run(*PYTEST, f"packages/{package}/tests", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Every package together: the CLI, the demo and the documentation's examples."""
    session.install("-e", "packages/omniq-core[testing,dill,gevent,yaml]", *TEST_EXTRAS)
    _editable(session, *(p for p in PACKAGES if p != "omniq-core"))
    session.run(*PYTEST, "tests-integration", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    """Real worker processes SIGKILLed mid-drain, broker servers of the tests' own crashed and
    restarted, workers stopped by signals: nothing lost, every extra run explained."""
    session.install("-e", "packages/omniq-core[testing,dill,gevent,yaml]", *TEST_EXTRAS)
    _editable(session, *(p for p in PACKAGES if p != "omniq-core"))
    session.run(*PYTEST, "tests-chaos", *session.posargs)
