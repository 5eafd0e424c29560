import asyncio
import threading
import time

import pytest

from omniq.core.errors import TaskTimeoutError
from omniq.core.worker._threads import InterruptibleThreads


def spin(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


async def test_a_python_loop_is_interrupted_at_its_timeout() -> None:
    threads = InterruptibleThreads(2)
    with pytest.raises(TaskTimeoutError):
        await threads.run(spin, (60,), {}, 0.2)
    assert await threads.run(spin, (0,), {}, 5) == "finished"
    threads.close()


async def test_a_call_blocked_in_c_is_abandoned_after_the_grace() -> None:
    threads = InterruptibleThreads(1, grace=0.1)
    release = threading.Event()
    with pytest.raises(TaskTimeoutError):
        await threads.run(release.wait, (), {}, 0.1)
    # The abandoned thread's slot was replaced: the next call runs right away.
    assert await threads.run(lambda: "next", (), {}, 5) == "next"
    release.set()
    threads.close()


async def test_coroutine_functions_run_on_the_threads_own_loop() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    threads = InterruptibleThreads(1)
    assert await threads.run(double, (21,), {}, None) == 42
    threads.close()


async def test_exceptions_come_back_to_the_caller() -> None:
    def fail() -> None:
        raise KeyError("k")

    threads = InterruptibleThreads(1)
    with pytest.raises(KeyError):
        await threads.run(fail, (), {}, None)
    threads.close()
