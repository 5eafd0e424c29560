"""``python benchmarks/_workers.py <system> ...``: the worker process of one benchmarked system.

Started by :class:`_harness.WorkerProcess`; each system's ``serve`` speaks the ready/go/done protocol.
Imports are per system so that Huey is needed only when Huey is measured.
"""

from __future__ import annotations

import importlib
import sys

#: The module whose ``serve(argv)`` runs each system's worker.
SERVERS = {
    "omniq": "_omniq_systems",
    "huey-sqlite": "_huey_system",
    "raw-sqlite": "_raw_system",
    "raw-postgres": "_pg_systems",
    "pgqueuer": "_pg_peers",
    "procrastinate": "_pg_peers",
    "redis": "_redis_systems",
    "redis-peers": "_redis_peers",
}


def main(argv: list[str]) -> None:
    """Run the worker named by ``argv[0]`` with the rest of the arguments."""
    if not argv or argv[0] not in SERVERS:
        sys.exit(f"usage: _workers.py {{{','.join(SERVERS)}}} ARGS...")
    importlib.import_module(SERVERS[argv[0]]).serve(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
