"""``omniq tasks list|purge`` and ``omniq cancel``: tasks of every status, read and tidied up."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC
from typing import Any

import msgspec

from omniq.core.app import FINAL_STATUSES
from omniq.core.cli._arguments import duration
from omniq.core.cli._config import existing_app
from omniq.core.models import Task, TaskStatus

__all__ = ["add_task_commands", "one_line"]


def add_task_commands(commands: Any, command: Any) -> None:
    """Add ``tasks list``, ``tasks purge`` and ``cancel``; ``command(subparsers, name, handler,
    help)`` adds one command with the options every command takes."""
    tasks = commands.add_parser("tasks", help="list or purge tasks", description="tasks of any status")
    task_commands = tasks.add_subparsers(required=True, metavar="ACTION")
    listed = command(task_commands, "list", _tasks_list, "list tasks, oldest first")
    listed.add_argument("-q", "--queue", dest="queue_name", help="only this queue")
    listed.add_argument(
        "-s",
        "--status",
        choices=list(TaskStatus),
        metavar="STATUS",
        help=f"only this status ({', '.join(TaskStatus)})",
    )
    listed.add_argument("-n", "--limit", type=int, default=100, help="at most this many (default 100)")
    listed.add_argument("--json", action="store_true", help="one JSON object per line")

    finals = ", ".join(FINAL_STATUSES)
    purge = command(task_commands, "purge", _tasks_purge, "delete finished tasks")
    purge.add_argument(
        "-s",
        "--status",
        dest="statuses",
        action="append",
        required=True,
        help=f"delete tasks in this status ({finals}); repeatable or comma-separated",
    )
    purge.add_argument(
        "--older-than",
        type=duration,
        metavar="AGE",
        help="only tasks last changed longer ago than this (30s, 15m, 12h, 7d)",
    )

    cancel = command(commands, "cancel", _cancel, "cancel tasks that have not finished")
    cancel.add_argument("task_ids", nargs="+", metavar="TASK_ID")


async def _tasks_list(args: argparse.Namespace) -> int:
    async with existing_app(args) as app:
        found = await app.list_tasks(args.queue_name, args.status, limit=args.limit)
    for task in found:
        if args.json:
            print(msgspec.json.encode(task, enc_hook=repr).decode())
        else:
            print(_task_line(task))
    if not found and not args.json:
        print("(no tasks)")
    return 0


def _task_line(task: Task) -> str:
    created = task.created_at.astimezone(UTC).isoformat(timespec="seconds")
    line = (
        f"{task.id}  {task.status.value:<9} {task.queue:<12} {task.func}  attempts={task.attempts}  {created}"
    )
    if task.error is not None:
        line += f"  {task.error.type}: {one_line(task.error.message)}"
    return line


async def _tasks_purge(args: argparse.Namespace) -> int:
    statuses = [name.strip() for text in args.statuses for name in text.split(",") if name.strip()]
    async with existing_app(args) as app:
        purged = await app.purge_tasks(statuses, args.older_than)
    print(f"purged {purged} task(s)")
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    refused: list[str] = []
    async with existing_app(args) as app:
        for task_id in args.task_ids:
            if await app.cancel(task_id):
                continue
            task = await app.get_task(task_id)
            refused.append(
                f"{task_id}: " + ("unknown task" if task is None else f"already {task.status.value}")
            )
    print(f"cancelled {len(args.task_ids) - len(refused)} task(s)")
    for reason in refused:
        print(f"omniq: {reason}: not cancelled", file=sys.stderr)
    return 2 if refused else 0


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) folded to single spaces."""
    return " ".join(text.split())
