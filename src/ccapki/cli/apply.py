"""``ccapki apply``: issue every identity the plan names."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env

if TYPE_CHECKING:
    from ccapki.lifecycle.apply import ApplyResult, Progress

__all__ = ["apply"]

_DONE = {"issue": "issued", "reissue": "reissued", "renew": "renewed"}


def _done(change: str) -> str:
    """A trust-store change apply made, in the past tense."""
    return "added " + change.removeprefix("add ") if change.startswith("add ") else change


def _warnings(result: ApplyResult, name: str) -> list[str]:
    """What the file no longer says that the store still holds."""
    out = []
    if result.not_in_file:
        gone = result.not_in_file
        listed = ", ".join(gone[:-1]) + " and " + gone[-1] if len(gone) > 1 else gone[0]
        they = "they are" if len(gone) > 1 else "it is"
        out.append(
            f"the store holds {listed}, which the deployment file no longer names: {they} "
            "kept, not deleted (no longer planned, renewed or checked); name "
            f"{'them' if len(gone) > 1 else 'it'} in the file again to manage "
            f"{'them' if len(gone) > 1 else 'it'}"
        )
    if result.renamed_from is not None:
        out.append(
            f"the deployment file names deployment {name!r}, the store last applied "
            f"{result.renamed_from!r}: the store now holds {name!r} (for a separate "
            "deployment, use another --home)"
        )
    return out


@contextlib.contextmanager
def _progress_bar(show: bool) -> Iterator[Progress | None]:
    """A progress bar on standard error (counts, rate, time left) while apply issues; None
    when ``show`` is false. Redrawn by each update, never by a thread of its own: the
    issuing workers are forked, which a running thread would stop (see issue_batches)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "-/s", style="progress.data.speed")

    bar = Progress(
        TextColumn("issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        auto_refresh=False,
        transient=True,
    )
    task = bar.add_task("issuing", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        bar.refresh()

    with bar:
        yield update


@click.command(
    epilog="""\b
EXAMPLES
  ccapki apply examples/faq.toml --dry-run   what would be issued
  ccapki apply examples/faq.toml             issue it (a second run changes nothing)

\b
EXIT CODES
  0 done   2 bad input (deployment file, passphrase, store)
  130/143 interrupted (Ctrl-C / SIGTERM): the identities issued so far are kept
          (each whole, with its key); run the command again to finish
"""
)
@click.argument("file", required=False, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def apply(env: Env, file: str | None, dry_run: bool, as_json: bool) -> int:
    """Issue (or renew, or reissue) what the plan needs, from each identity's source."""
    from ccapki import api
    from ccapki.cli.common import load_deployment_arg
    from ccapki.topology.plan import ActionKind

    if not dry_run:
        env.refuse_what_if("apply")
    dep, path = load_deployment_arg(env, file)
    show = not dry_run and not as_json and sys.stderr.isatty()
    with env.open_store() as store:
        held = store.deployments.names()  # a new name is a new deployment, beside these
        # interrupted, its hint says how many identities were kept (see apply_plan)
        with _progress_bar(show) as progress:
            result = api.apply(store, dep, env.now(), dry_run=dry_run, path=path, progress=progress)
        if not dry_run:
            env.work_done()  # committed: a late Ctrl-C no longer makes this an error
        current = store.identities.current() if not dry_run else {}
    for warning in _warnings(result, dep.name):
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "dry_run": dry_run,
                "issued": list(result.issued),
                "created_cas": list(result.created_cas),
                "trust_added": list(result.trust_added),
                "not_in_file": list(result.not_in_file),
                "renamed_from": result.renamed_from,
                "deployment": dep.name,
                "new_deployment": dep.name not in held,
                "issued_elsewhere": list(result.issued_elsewhere),
                "actions": [
                    {"identity": a.identity, "action": a.kind.value, "reason": a.reason}
                    for a in result.actions
                ],
            }
        )
        return 0
    others = [n for n in held if n != dep.name]
    if dep.name not in held and others:
        click.echo(
            f"{'would be a ' if dry_run else ''}new deployment {dep.name} in this store, beside "
            f"{', '.join(others)} (each keeps its own identities, CAs and trust stores; "
            "commands without a deployment file now need --deployment NAME)"
        )
    for ca in result.created_cas:
        click.echo(f"created CA {ca}")
    issued, elsewhere = set(result.issued), set(result.issued_elsewhere)
    for a in result.actions:
        if a.kind is ActionKind.NOTHING:
            continue
        if dry_run:
            click.echo(f"would {a.kind.value} {a.identity}: {a.reason}")
        elif a.identity in elsewhere:
            click.echo(f"{a.identity}: another ccapki issued it meanwhile (kept as it is)")
        elif a.identity in issued:
            ident = current[a.identity]
            click.echo(
                f"{_DONE[a.kind]} {a.identity} v{ident.version} "
                f"(expires {ident.not_after:%Y-%m-%d}) in {env.home}"
            )
        else:
            click.echo(f"{a.identity}: {a.kind.value}: {a.reason}")
    for change in result.trust_added:  # done, so said as done: "added ..." ("add ..." is
        click.echo(_done(change))  # what `trust plan` proposes)
    if not any(a.kind is not ActionKind.NOTHING for a in result.actions):
        click.echo("nothing to do: every identity is issued and current")
    return 0
