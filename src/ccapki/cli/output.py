"""Terminal output: Rich tables for people, JSON for programs."""

from __future__ import annotations

import errno
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "days_text", "plural", "print_json"]


def console(stderr: bool = False) -> Console:
    import shutil

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else max(140, shutil.get_terminal_size((140, 24)).columns)

    # emoji=False: a fingerprint such as "...:AB:..." must not become an emoji
    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 ("findings" here): raise instead, for the CLI's exit code 141
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "standard output was closed")

    return _Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=False, width=width)


def _json_value(value: object) -> object:
    """What JSON cannot hold as it is: a time in ISO 8601 (``2026-11-29T10:32:46+00:00``,
    as every timestamp of the JSON output; ``str`` would put a space before the time),
    anything else as its text."""
    import datetime as dt

    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def print_json(data: object) -> None:
    """``data`` as one JSON document on standard output."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_value, sort_keys=False) + "\n")


def days_text(days: int) -> str:
    if days < 0:
        return f"[red]expired {-days}d ago[/red]"
    if days <= 30:
        return f"[yellow]{days}d[/yellow]"
    return f"{days}d"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 HA pair``, ``2 HA pairs``; ``many`` for an irregular plural."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
