"""Terminal output: Rich tables for people, JSON for programs."""

from __future__ import annotations

import errno
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from ccapki.store.session import Store
    from ccapki.topology.plan import Action

__all__ = ["adopted_kept", "console", "days_text", "kept_words", "plural", "print_json"]


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


def adopted_kept(store: Store, deployment: str, actions: Sequence[Action]) -> list[str]:
    """The identities of ``actions`` (``plan``'s, ``apply``'s) with nothing to do whose
    current certificate was adopted (``ccapki import [--file FILE]``: taken with its key
    from where it is in service, not issued by ccapki,
    :func:`~ccapki.lifecycle.adopted.adopted_identities`): kept as they are, as they
    fit the plan. In the order of ``actions``; empty for a deployment the store does
    not hold. Reads only."""
    from ccapki.lifecycle.adopted import adopted_identities
    from ccapki.topology.plan import ActionKind

    fitting = [a.identity for a in actions if a.kind is ActionKind.NOTHING]
    if not fitting or deployment not in store.deployments.names():
        return []
    with store.scoped(deployment):
        adopted = adopted_identities(
            store, lambda: {f.identity: f.fingerprint for f in store.identities.current_facts()}
        )
    return [n for n in fitting if n in adopted]


def kept_words(names: Sequence[str], most: int = 3) -> str:
    """The line saying the adopted certificates kept (:func:`adopted_kept`), the first
    ``most`` named and how many in all: ``kept: cas1 (adopted certificate, fits the
    plan)``, ``kept: cas001, cas002, cas003 +1197 (1200 adopted certificates, fit the
    plan)``."""
    shown = ", ".join(names[:most]) + (f" +{len(names) - most}" if len(names) > most else "")
    if len(names) == 1:
        return f"kept: {shown} (adopted certificate, fits the plan)"
    return f"kept: {shown} ({len(names)} adopted certificates, fit the plan)"
