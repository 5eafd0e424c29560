"""Refuse to start worker processes from a script's top level outside ``if __name__ == "__main__":``.

multiprocessing's fork server (and ``spawn``) imports the main script again to prepare the
children. Code at the script's top level that starts a worker would run again there and try to
start processes while the first ones are still being made: the children die at start-up, and the
tasks wait, fail and retry until they are dead, which looks like a hang. Found before any child is
started, it is one error saying what to add.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from types import FrameType

__all__ = ["check_main_guard"]

_GUARD_EXAMPLE = 'if __name__ == "__main__":\n    oq.run_worker(worker_type="process")'


def check_main_guard() -> None:
    """Raise ``RuntimeError`` if the main thread is running the main script's top-level code at a
    line outside an ``if __name__ == "__main__":`` block (the re-import would run that line again).

    A main module without a source file (``python -c``, an interactive session) is not checked, nor
    a package's ``__main__`` run with ``python -m`` (multiprocessing does not import it again).
    """
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return
    frame = _main_module_frame()
    if frame is None:
        return
    path, line = frame.f_code.co_filename, frame.f_lineno
    guarded = _guarded_lines(path)
    if guarded is None or line in guarded:
        return
    raise RuntimeError(
        f"a process worker was started at line {line} of {path} outside "
        "'if __name__ == \"__main__\":'. Worker processes import the main script again, which would "
        "start the worker again in each of them; put the code that starts the worker (and what "
        f"follows it) under that guard, for example:\n\n{_GUARD_EXAMPLE}\n"
    )


def _main_module_frame() -> FrameType | None:
    """The frame of the main module's top-level code in the main thread's stack, if any."""
    frame: FrameType | None = sys._current_frames().get(threading.main_thread().ident or -1)
    found = None
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            found = frame
        frame = frame.f_back
    return found


@functools.cache
def _guarded_lines(path: str) -> frozenset[int] | None:
    """The lines of ``path`` inside a top-level ``if`` testing ``__name__`` against ``"__main__"``;
    ``None`` when the file cannot be read or parsed (then nothing is refused)."""
    try:
        with open(path, "rb") as file:
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and _tests_main(node.test):
            for statement in node.body:
                lines.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    return frozenset(lines)


def _tests_main(test: ast.expr) -> bool:
    names = {node.id for node in ast.walk(test) if isinstance(node, ast.Name)}
    texts = {node.value for node in ast.walk(test) if isinstance(node, ast.Constant)}
    return "__name__" in names and "__main__" in texts
