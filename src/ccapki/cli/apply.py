"""``ccapki apply``: issue every identity the plan names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import Interrupted

if TYPE_CHECKING:
    from ccapki.lifecycle.apply import ApplyResult

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


@click.command(
    epilog="""\b
EXAMPLES
  ccapki apply examples/faq.toml --dry-run   what would be issued
  ccapki apply examples/faq.toml             issue it (a second run changes nothing)

\b
EXIT CODES
  0 done   2 bad input (deployment file, passphrase, store)
  130/143 interrupted (Ctrl-C / SIGTERM): nothing was written
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
    with env.open_store() as store:
        try:
            result = api.apply(store, dep, env.now(), dry_run=dry_run, path=path)
        except Interrupted as exc:  # the transaction rolled back, the workers are stopped
            exc.hint = "nothing was written (apply is one transaction); run the command again"
            raise
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
                "actions": [
                    {"identity": a.identity, "action": a.kind.value, "reason": a.reason}
                    for a in result.actions
                ],
            }
        )
        return 0
    for ca in result.created_cas:
        click.echo(f"created CA {ca}")
    for a in result.actions:
        if a.kind is ActionKind.NOTHING:
            continue
        if dry_run:
            click.echo(f"would {a.kind.value} {a.identity}: {a.reason}")
        elif a.identity in result.issued:
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
