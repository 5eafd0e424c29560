"""``python -m omniq.core.testing.worker_process URL``: a worker process for multi-process tests."""

from __future__ import annotations

import argparse
import asyncio

from omniq.core.app import AsyncOmniQ
from omniq.core.testing._support import TASK_MODULES


def main(argv: list[str] | None = None) -> None:
    """Run one worker until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--queues", default="default")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--worker-type", default="async")
    parser.add_argument("--lease-ttl", type=float, default=10.0)
    parser.add_argument("--grace", type=float, default=30.0, help="shutdown grace, seconds")
    parser.add_argument("--scheduler-interval", type=float, default=1.0, help="seconds between ticks")
    args = parser.parse_args(argv)

    async def serve() -> None:
        app = AsyncOmniQ(
            args.url,
            lease_ttl=args.lease_ttl,
            poll_interval=0.05,
            shutdown_grace=args.grace,
            scheduler_interval=args.scheduler_interval,
            task_modules=[TASK_MODULES],
        )
        async with app:
            await app.run_worker(
                args.worker_type, max_workers=args.max_workers, queues=args.queues.split(",")
            )

    asyncio.run(serve())


if __name__ == "__main__":
    main()
