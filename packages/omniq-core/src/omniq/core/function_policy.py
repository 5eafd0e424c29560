"""Which functions a worker may run: whoever can write to the store must not be able to run
arbitrary code on the workers.

A task names its function by import path, and a worker imports it. Without a rule, anyone who can
write a task (to the database, the Redis server, the bucket) could name ``os:system`` or any function
of any installed package, and every worker would run it. So by default a worker runs only:

- functions registered with ``@oq.task`` in the application it serves;
- functions of the modules named by the ``task_modules`` setting (``omniq worker -i``), and of
  their submodules;
- functions of the project's own modules: found on the import path, but neither in the standard
  library nor in an installed distribution (site-packages).

Anything else is refused before its module is imported, and the task goes to ``dead`` with a
:class:`~omniq.core.errors.FunctionNotAllowedError`. ``allow_any_function`` lifts the rule for
set-ups where everyone who can write to the store is trusted anyway.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import site
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from omniq.core.errors import FunctionNotAllowedError

if TYPE_CHECKING:
    from omniq.core.settings import Settings

__all__ = ["FunctionPolicy"]


class FunctionPolicy:
    """The rule above, for one worker (or application).

    Args:
        task_modules: modules (and packages, with their submodules) whose functions may run.
        allow_any_function: run any importable function (trusted set-ups only).
    """

    def __init__(self, task_modules: Sequence[str] = (), *, allow_any_function: bool = False) -> None:
        self.task_modules = tuple(task_modules)
        self.allow_any_function = allow_any_function

    @classmethod
    def from_settings(cls, settings: Settings) -> FunctionPolicy:
        """The policy the ``task_modules`` and ``allow_any_function`` settings describe."""
        return cls(settings.task_modules, allow_any_function=settings.allow_any_function)

    def naming(self, *modules: str) -> FunctionPolicy:
        """This policy with ``modules`` named too."""
        return FunctionPolicy((*self.task_modules, *modules), allow_any_function=self.allow_any_function)

    def check(self, name: str, module: str) -> None:
        """Raise :class:`FunctionNotAllowedError` if ``module`` (of task function ``name``) may not
        be imported to run a task. Nothing is imported to decide."""
        if self.allow_any_function or self._named(module):
            return
        where = _installed_home(module.partition(".")[0])
        if where is not None:
            raise FunctionNotAllowedError(
                f"task function {name!r} is refused: module {module!r} belongs to {where}. A worker "
                "runs functions registered with @task, functions of the modules in the task_modules "
                "setting (OMNIQ_TASK_MODULES, omniq worker -i) and of the project's own modules; "
                "name the module there, or set allow_any_function for a trusted set-up"
            )

    def _named(self, module: str) -> bool:
        return any(module == named or module.startswith(f"{named}.") for named in self.task_modules)


@functools.cache
def _installed_home(top_level: str) -> str | None:
    """What ``top_level`` is installed as (the standard library, a distribution), or ``None`` for
    the project's own modules and names that cannot be found (their import fails on its own)."""
    if top_level in sys.stdlib_module_names or top_level in sys.builtin_module_names:
        return "the standard library"
    distributions = importlib.metadata.packages_distributions().get(top_level)
    if distributions:
        return f"the installed distribution {distributions[0]!r}"
    try:
        spec = importlib.util.find_spec(top_level)  # a top-level name is found without importing it
    except (ImportError, ValueError):  # ``__main__`` of ``python -c``, a module without a spec
        return None
    if spec is None:
        return None
    places = [spec.origin] if spec.origin not in (None, "built-in", "frozen") else []
    places += list(spec.submodule_search_locations or [])
    if any(_is_installed_path(Path(place)) for place in places if place):
        return "an installed package"
    return None


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    roots += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    roots.append(site.getusersitepackages())
    return tuple(Path(root).resolve() for root in roots)


def _is_installed_path(path: Path) -> bool:
    resolved = path.resolve()
    if any(part in ("site-packages", "dist-packages") for part in resolved.parts):
        return True
    return any(resolved.is_relative_to(root) for root in _installed_roots())
