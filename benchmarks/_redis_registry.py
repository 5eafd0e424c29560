"""The Redis systems' ``--only`` names, imported lazily: redis-py and the peers are optional."""

from __future__ import annotations

import atexit

from _harness import BenchConfig, System

__all__ = ["REDIS_SYSTEMS", "build_redis"]

#: ``--only`` names of the Redis rows, in table order.
REDIS_SYSTEMS = ("redis", "huey-redis", "saq-redis", "arq-redis", "taskiq-redis", "rq-redis", "raw-redis")


def build_redis(key: str, config: BenchConfig) -> System:
    """The Redis system called ``key`` (its module is imported only now)."""
    import _redis_peers as peers  # noqa: PLC0415
    import _redis_systems as systems  # noqa: PLC0415

    # The run (this process, not its workers) leaves the benchmark database empty.
    atexit.register(systems.flush)
    if key == "redis":
        return systems.OmniQRedis(config)
    if key == "huey-redis":
        return systems.HueyRedis(config)
    if key == "saq-redis":
        return systems.SaqRedis()
    if key == "arq-redis":
        return peers.ArqRedis(config)
    if key == "taskiq-redis":
        return peers.TaskiqRedis()
    if key == "rq-redis":
        return peers.RqRedis()
    return systems.RawRedis()
