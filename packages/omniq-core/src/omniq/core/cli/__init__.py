"""The ``omniq`` command: run workers, enqueue, cancel, read results, inspect queues, tasks, events
and dead letters, and the demo.

Every command reads the same configuration as the library: ``--config omniq.yaml``, then
``OMNIQ_*`` variables, then ``--url`` naming one backend for every component. Only ``worker``,
``enqueue`` and ``demo`` create a store; the others refuse one that does not exist. Errors print one
line and exit with status 1; output cut short by a closed pipe (``omniq events | head``) ends quietly
with status 141, as a shell command killed by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from typing import Any

import msgspec

from omniq.core.app import AsyncOmniQ, shown_stores
from omniq.core.cli._arguments import duration, json_argument
from omniq.core.cli._config import app_from_args, existing_app, settings_from_args
from omniq.core.cli._demo import run_demo
from omniq.core.cli._events import run_events
from omniq.core.cli._tasks import add_task_commands, one_line
from omniq.core.errors import OmniQError
from omniq.core.sync import OmniQ
from omniq.core.worker import worker_class
from omniq.core.worker.gevent_worker import monkey_patch

__all__ = ["main", "version_text"]

#: The exit status of a command whose output pipe closed (128 + SIGPIPE), as the shell reports it.
EXIT_PIPE_CLOSED = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``omniq`` script; returns the exit status."""
    try:
        status = _run(argv)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is noticed below
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_PIPE_CLOSED
    return status


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Run from a project's directory, `omniq worker myapp:oq` finds `myapp` as `python -m` would
    # (Celery, RQ and arq do the same); process-pool children inherit the path.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.command
    try:
        settings = settings_from_args(args)
        logging.basicConfig(
            level=(settings.log_level or "WARNING").upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if command is _worker and (args.worker_type or settings.default_worker) == "gevent":
            monkey_patch()  # before the event loop exists and before any backend is imported
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except (OmniQError, ValueError, TypeError, ImportError, OSError, TimeoutError) as exc:
        print(f"omniq: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a backend's own error (a corrupt file, say): still one line
        logging.getLogger("omniq.cli").debug("command failed", exc_info=True)
        print(f"omniq: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


def version_text() -> str:
    """``omniq <version>``, with the installed backend distributions and their versions."""
    backends = {
        (point.dist.name, point.dist.version)
        for point in metadata.entry_points(group="omniq.backends")
        if point.dist is not None and point.dist.name != "omniq-core"
    }
    shown = ", ".join(f"{name} {version}" for name, version in sorted(backends))
    return f"omniq {metadata.version('omniq-core')}" + (f" ({shown})" if shown else "")


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind stdout (captured, replaced)
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omniq", description="OmniQ task queue command line")
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    _add_worker(commands)
    _add_enqueue(commands)

    result = _command(commands, "result", _result, "print a task's result as JSON")
    result.add_argument("task_id")
    result.add_argument("-w", "--wait", type=float, help="seconds to wait for it")

    dead = commands.add_parser("dead", help="list, requeue or purge dead tasks", description="dead letters")
    dead_commands = dead.add_subparsers(required=True, metavar="ACTION")
    dead_list = _command(dead_commands, "list", _dead_list, "list dead tasks with their errors, oldest first")
    dead_list.add_argument("-q", "--queue", dest="queue_name", help="only this queue")
    dead_list.add_argument("-n", "--limit", type=int, default=100, help="at most this many (default 100)")
    dead_list.add_argument("--json", action="store_true", help="one JSON object per line")
    dead_requeue = _command(
        dead_commands, "requeue", _dead_requeue, "run dead tasks again with fresh attempts"
    )
    dead_requeue.add_argument("task_ids", nargs="*", metavar="TASK_ID")
    dead_requeue.add_argument("--all", action="store_true", help="every dead task (of --queue, if given)")
    dead_requeue.add_argument("-q", "--queue", dest="queue_name", help="with --all: only this queue")
    dead_purge = _command(dead_commands, "purge", _dead_purge, "delete dead tasks")
    dead_purge.add_argument(
        "--older-than", type=duration, metavar="AGE", help="only tasks dead for longer than this (7d, 12h)"
    )

    schedules = commands.add_parser("schedules", help="list, pause, resume or cancel schedules")
    schedule_commands = schedules.add_subparsers(required=True, metavar="ACTION")
    schedule_list = _command(schedule_commands, "list", _schedules_list, "list schedules, oldest first")
    schedule_list.add_argument(
        "-s", "--status", help="only this status (active, paused, cancelled, finished)"
    )
    for action, verb in (("pause", "pause"), ("resume", "resume"), ("cancel", "cancel")):
        change = _command(schedule_commands, action, _schedules_change, f"{verb} schedules")
        change.add_argument("schedule_ids", nargs="+", metavar="SCHEDULE_ID")
        change.set_defaults(action=action)

    add_task_commands(commands, _command)

    for name in ("info", "status"):
        _command(commands, name, _info, "queue depths by status")

    events = _command(commands, "events", run_events, "print stored events, oldest first")
    events.add_argument("--task", dest="task_id", metavar="TASK_ID", help="only this task's events")
    events.add_argument(
        "--type", dest="types", action="append", metavar="TYPE", help="only events of this type; repeatable"
    )
    events.add_argument("--since", type=duration, metavar="AGE", help="only events of the last AGE (90s, 2h)")
    events.add_argument(
        "-n", "--limit", type=int, default=1000, help="at most this many at first (default 1000; 0: all)"
    )
    events.add_argument("-f", "--follow", action="store_true", help="then print new events as they come")
    events.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="with --follow: seconds between reads"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")

    demo = _command(commands, "demo", run_demo, "enqueue tasks, run a worker with progress, summarise")
    demo.add_argument("-n", "--tasks", type=int, default=400, help="how many tasks (default 400)")
    demo.add_argument("-c", "--concurrency", type=int, default=16)
    return parser


def _add_worker(commands: Any) -> None:
    worker = _command(commands, "worker", _worker, "run a worker until SIGINT/SIGTERM")
    worker.add_argument(
        "app",
        nargs="?",
        help="application to serve, as module:attribute; the current directory is on the import path",
    )
    worker.add_argument("-q", "--queues", help="comma-separated queues, earliest served first")
    worker.add_argument(
        "-t",
        "--type",
        dest="worker_type",
        help="worker kind: async, thread, process (each task in a child process; on every backend), "
        "gevent (monkey-patches the process); default: OMNIQ_DEFAULT_WORKER, async",
    )
    worker.add_argument(
        "-c", "--concurrency", type=int, help="tasks run at once (default: OMNIQ_MAX_WORKERS, 10)"
    )
    worker.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long running tasks may finish before they are released "
        "(default: OMNIQ_SHUTDOWN_GRACE, 30); a second signal releases them at once",
    )
    worker.add_argument(
        "-i",
        "--import",
        dest="imports",
        action="append",
        default=[],
        help="module to import first, whose functions (and its submodules') the worker may run; "
        "repeatable (see OMNIQ_TASK_MODULES)",
    )


def _add_enqueue(commands: Any) -> None:
    enqueue = _command(commands, "enqueue", _enqueue, "queue a call of a function")
    enqueue.add_argument("func", help="module:function or a registered task name")
    enqueue.add_argument("--args", default="[]", help="positional arguments as a JSON list")
    enqueue.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
    enqueue.add_argument(
        "-q", "--queue", dest="queue_name", help="queue (default: the function's, else default)"
    )
    enqueue.add_argument("-p", "--priority", type=int, help="higher runs first within its queue")
    enqueue.add_argument(
        "--run-in", "--delay", dest="run_in", type=duration, metavar="AGE", help="not before this (30s, 15m)"
    )
    enqueue.add_argument("--ttl", type=duration, metavar="AGE", help="expire unless started within this")
    enqueue.add_argument("--timeout", type=duration, metavar="AGE", help="stop an attempt after this")
    enqueue.add_argument("--max-retries", type=int, metavar="N", help="attempts after the first")
    enqueue.add_argument("--dedup-key", metavar="KEY", help="if a live task holds KEY, print its id instead")
    enqueue.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="TASK_ID",
        help="run once this task completed; repeatable or comma-separated",
    )


def _command(
    commands: Any, name: str, handler: Callable[..., Any], help_text: str
) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (.yaml, .toml or .json); OMNIQ_* variables win over it",
    )
    sub.add_argument(
        "--url", help="backend URI for every component (default: the configuration, else ./omniq.db)"
    )
    sub.set_defaults(command=handler)
    return sub


def _app(args: argparse.Namespace) -> AsyncOmniQ:
    return app_from_args(args)


async def _worker(args: argparse.Namespace) -> int:
    for module in args.imports:
        importlib.import_module(module)
    if args.app and (args.url or args.config):
        raise ValueError(
            f"give an application ({args.app}) or --url/--config, not both: "
            "the application names its own backend"
        )
    app = _load_app(args.app) if args.app else _app(args)
    # The modules named on the command line are the worker's task modules.
    named = [*args.imports, *([args.app.partition(":")[0]] if args.app else [])]
    app.functions.policy = app.functions.policy.naming(*named)
    if args.grace is not None:
        app.settings = msgspec.structs.replace(app.settings, shutdown_grace=args.grace)
    queues = args.queues.split(",") if args.queues else None
    async with app:
        print(_banner(app, args.worker_type, args.concurrency, queues), file=sys.stderr, flush=True)
        await app.run_worker(args.worker_type, max_workers=args.concurrency, queues=queues)
    return 0


def _banner(app: AsyncOmniQ, kind: str | None, concurrency: int | None, queues: list[str] | None) -> str:
    """What the worker is about to serve, as the worker itself resolves each default."""
    settings = app.settings
    kind = kind or settings.default_worker
    stores = shown_stores(app)
    lines = [
        f"omniq {metadata.version('omniq-core')}: worker serving {stores['task_queue']}",
        f"  queues:      {', '.join(queues or [settings.default_queue])} (earliest first)",
        f"  kind:        {kind} ({worker_class(kind).__name__})",
        f"  concurrency: {concurrency or settings.max_workers}",
    ]
    for role, label in (("result_store", "results"), ("event_store", "events")):
        if stores[role] != stores["task_queue"]:
            lines.append(f"  {label + ':':<12} {stores[role] or 'off'}")
    return "\n".join(lines)


async def _enqueue(args: argparse.Namespace) -> int:
    positional = json_argument("--args", args.args, list)
    keywords = json_argument("--kwargs", args.kwargs, dict)
    depends_on = [
        task_id.strip() for text in args.depends_on for task_id in text.split(",") if task_id.strip()
    ]
    async with _app(args) as app:
        task_id = await app.enqueue(
            args.func,
            keywords,
            args=positional,
            queue_name=args.queue_name,
            priority=args.priority,
            run_in=args.run_in,
            ttl=args.ttl,
            timeout=args.timeout,
            max_retries=args.max_retries,
            dedup_key=args.dedup_key,
            depends_on=depends_on,
        )
    print(task_id)
    return 0


async def _result(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        result = await app.get_result(args.task_id, timeout=args.wait)
        if result is None:
            task = await app.get_task(args.task_id)
            state = "unknown task" if task is None else f"no result yet (status {task.status.value})"
            print(f"omniq: {args.task_id}: {state}", file=sys.stderr)
            return 2
    print(msgspec.json.format(msgspec.json.encode(result, enc_hook=repr).decode()))
    return 0


async def _info(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        counts = await app.counts()
    statuses = ["pending", "waiting", "running", "failed", "completed", "dead", "cancelled", "expired"]
    print(f"{'queue':<20}" + "".join(f"{status:>11}" for status in statuses))
    for queue in sorted(counts):
        print(f"{queue:<20}" + "".join(f"{counts[queue].get(status, 0):>11}" for status in statuses))
    if not counts:
        print("(no tasks)")
    return 0


async def _dead_list(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        dead = await app.dead_letters(args.queue_name, limit=args.limit)
    for task in dead:
        error = task.error
        if args.json:
            print(msgspec.json.encode(task, enc_hook=repr).decode())
        else:
            reason = "" if error is None else f"{error.type}: {one_line(error.message)}"
            print(f"{task.id}  {task.queue:<12} {task.func}  attempts={task.attempts}  {reason}")
    if not dead and not args.json:
        print("(no dead tasks)")
    return 0


async def _dead_requeue(args: argparse.Namespace) -> int:
    if bool(args.task_ids) == bool(args.all):
        raise ValueError("give task ids or --all (not both)")
    async with existing_app(args) as app:
        ids = args.task_ids
        if args.all:
            ids = [task.id for task in await app.dead_letters(args.queue_name, limit=1_000_000)]
        refused = [task_id for task_id in ids if not await app.requeue(task_id)]
    print(f"requeued {len(ids) - len(refused)} task(s)")
    for task_id in refused:
        print(f"omniq: {task_id}: not requeued (unknown, or not dead, cancelled or expired)", file=sys.stderr)
    return 2 if refused else 0


async def _dead_purge(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        purged = await app.purge_dead_letters(args.older_than)
    print(f"purged {purged} dead task(s)")
    return 0


async def _schedules_list(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        found = await app.list_schedules(args.status, limit=1_000_000)
    for schedule in found:
        when = schedule.cron or (
            f"every {schedule.interval.total_seconds():g} s" if schedule.interval else None
        )
        when = when or f"at {schedule.at.isoformat() if schedule.at else '?'}"
        following = schedule.next_run_at.isoformat() if schedule.next_run_at else "-"
        print(
            f"{schedule.id}  {schedule.status.value:<9} {schedule.func}  {when}  "
            f"runs={schedule.runs}  next={following}"
        )
    if not found:
        print("(no schedules)")
    return 0


async def _schedules_change(args: argparse.Namespace) -> int:
    refused = []
    async with existing_app(args) as app:
        change = {
            "pause": app.pause_schedule,
            "resume": app.resume_schedule,
            "cancel": app.cancel_schedule,
        }[args.action]
        for schedule_id in args.schedule_ids:
            if not await change(schedule_id):
                refused.append(schedule_id)
    past = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[args.action]
    print(f"{past} {len(args.schedule_ids) - len(refused)} schedule(s)")
    for schedule_id in refused:
        print(f"omniq: {schedule_id}: not {past} (its status does not allow it)", file=sys.stderr)
    return 2 if refused else 0


def _load_app(path: str) -> AsyncOmniQ:
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise ValueError(f"application {path!r} must be given as module:attribute")
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, OmniQ):
        return target.aio
    if isinstance(target, AsyncOmniQ):
        return target
    raise TypeError(f"{path} is {type(target).__name__}, not an OmniQ or AsyncOmniQ application")


def _one_line(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__
