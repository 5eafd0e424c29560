"""The gevent runner (greenlets on a hub thread) and the gevent worker's configuration errors.

This process is not monkey-patched: cooperative code here uses ``gevent.sleep``; the patched
behaviour is proven by the conformance suite's ``omniq worker --type gevent`` process tests.
"""

import asyncio
import contextvars
import subprocess
import sys
import threading

import gevent
import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.cli import main
from omniq.core.errors import ConfigurationError, TaskTimeoutError
from omniq.core.worker import GeventWorker, worker_class
from omniq.core.worker._greenlets import GreenletRunner
from omniq.core.worker.gevent_worker import is_monkey_patched, monkey_patch

_request = contextvars.ContextVar[str]("request", default="none")


def cooperative_sleep(seconds: float, seen: list[str]) -> str:
    try:
        gevent.sleep(seconds)
    except BaseException as exc:
        seen.append(type(exc).__name__)
        raise
    return "slept"


def started_then_sleeping(seen: list[str]) -> str:
    seen.append("started")
    return cooperative_sleep(60, seen)


async def until_started(seen: list[str], count: int = 1) -> None:
    while seen.count("started") < count:
        await asyncio.sleep(0.01)


async def test_a_yielding_greenlet_is_stopped_by_gevent_timeout() -> None:
    runner = GreenletRunner(2)
    seen: list[str] = []
    with pytest.raises(TaskTimeoutError):
        await runner.run(cooperative_sleep, (60, seen), {}, 0.1)
    assert seen == ["Timeout"]
    assert await runner.run(cooperative_sleep, (0, seen), {}, 5) == "slept"
    runner.close()


async def test_a_tasks_own_timeouts_are_its_errors() -> None:
    def own_gevent_timeout() -> None:
        with gevent.Timeout(0.01):
            gevent.sleep(60)

    def own_timeout_error() -> None:
        raise TimeoutError("the task's own")

    runner = GreenletRunner(1)
    with pytest.raises(gevent.Timeout):
        await runner.run(own_gevent_timeout, (), {}, 30)
    with pytest.raises(TimeoutError) as caught:
        await runner.run(own_timeout_error, (), {}, 30)
    assert not isinstance(caught.value, TaskTimeoutError)
    runner.close()


async def test_cancelling_the_call_kills_its_greenlet() -> None:
    runner = GreenletRunner(1)
    seen: list[str] = []
    call = asyncio.create_task(runner.run(started_then_sleeping, (seen,), {}, None))
    await until_started(seen)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert seen == ["started", "GreenletExit"]
    assert await runner.run(cooperative_sleep, (0, seen), {}, 5) == "slept"
    runner.close()


async def test_at_most_size_greenlets_run_at_once_and_waiting_calls_can_be_cancelled() -> None:
    running = 0
    most = 0

    def step() -> None:
        nonlocal running, most
        running += 1  # every greenlet runs in the hub's one thread: no lock needed
        most = max(most, running)
        gevent.sleep(0.02)
        running -= 1

    runner = GreenletRunner(2)
    await asyncio.gather(*(runner.run(step, (), {}, 30) for _ in range(6)))
    assert most == 2

    seen: list[str] = []
    blockers = [asyncio.create_task(runner.run(started_then_sleeping, (seen,), {}, None)) for _ in range(2)]
    waiting = asyncio.create_task(runner.run(seen.append, ("waited",), {}, None))
    await until_started(seen, 2)
    waiting.cancel()
    for blocker in blockers:
        blocker.cancel()
    await asyncio.gather(waiting, *blockers, return_exceptions=True)
    assert sorted(seen) == ["GreenletExit", "GreenletExit", "started", "started"]
    runner.close()


async def test_a_greenlet_that_never_yields_is_given_up_on_and_a_fresh_hub_takes_over() -> None:
    # Without monkey-patching, a blocking wait holds the hub: gevent.Timeout cannot fire.
    release = threading.Event()
    runner = GreenletRunner(1, grace=0.1)
    with pytest.raises(TaskTimeoutError):
        await runner.run(release.wait, (), {}, 0.1)
    assert await runner.run(lambda: "next", (), {}, 5) == "next"

    cancelled = asyncio.create_task(runner.run(release.wait, (), {}, None))
    await asyncio.sleep(0.1)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await runner.run(lambda: "after", (), {}, 5) == "after"
    release.set()
    runner.close()


async def test_the_event_loop_keeps_running_while_a_greenlet_holds_its_hub() -> None:
    release = threading.Event()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0.005)
            if ticks >= 5:
                release.set()  # only a running loop gets here, and it frees the greenlet

    runner = GreenletRunner(1)
    ticking = asyncio.create_task(tick())
    assert await runner.run(release.wait, (), {}, 60) is True
    await ticking
    runner.close()


async def test_the_callers_context_follows_the_call_into_the_greenlet() -> None:
    _request.set("abc")
    runner = GreenletRunner(1)
    assert await runner.run(_request.get, (), {}, None) == "abc"
    runner.close()


async def test_coroutine_functions_run_on_the_workers_loop() -> None:
    loop = asyncio.get_running_loop()

    async def on_which_loop() -> bool:
        await asyncio.sleep(0)
        return asyncio.get_running_loop() is loop

    async def forever() -> None:
        await asyncio.sleep(60)

    def returns_a_coroutine() -> object:
        return on_which_loop()

    runner = GreenletRunner(1)
    assert await runner.run(on_which_loop, (), {}, None) is True
    assert await runner.run(returns_a_coroutine, (), {}, None) is True
    with pytest.raises(TaskTimeoutError):
        await runner.run(forever, (), {}, 0.05)
    runner.close()


def test_missing_gevent_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "gevent", None)  # `import gevent` now fails as if absent
    with pytest.raises(ConfigurationError, match=r"pip install omniq-core\[gevent\]"):
        worker_class("gevent")
    with pytest.raises(ConfigurationError, match=r"pip install omniq-core\[gevent\]"):
        monkey_patch()
    assert main(["worker", "--type", "gevent", "--url", "memory://"]) == 1
    assert "pip install omniq-core[gevent]" in capsys.readouterr().err


async def test_starting_a_gevent_worker_without_gevent_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gevent", None)
    async with AsyncOmniQ("memory://") as app:
        with pytest.raises(ConfigurationError, match=r"pip install omniq-core\[gevent\]"):
            await app.start_worker("gevent")


async def test_monkey_patching_refuses_once_an_event_loop_runs() -> None:
    assert not is_monkey_patched()
    with pytest.raises(ConfigurationError, match="before the event loop starts"):
        monkey_patch()
    assert not is_monkey_patched()


def test_the_gevent_kind_is_registered_and_importing_omniq_does_not_import_gevent() -> None:
    assert worker_class("gevent") is GeventWorker and GeventWorker.kind == "gevent"
    check = "import sys, omniq.core, omniq.core.cli; print('gevent' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"
