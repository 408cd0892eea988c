"""``ccapki apply``: issue every identity the plan names."""

from __future__ import annotations

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import Interrupted

__all__ = ["apply"]

_DONE = {"issue": "issued", "reissue": "reissued", "renew": "renewed"}


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
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.apply import apply_plan
    from ccapki.topology.plan import ActionKind

    if not dry_run:
        env.refuse_what_if("apply")
    dep, path = load_deployment_arg(env, file)
    store = env.open_store()
    try:
        try:
            result = apply_plan(store, dep, env.now(), dry_run=dry_run, path=path)
        except Interrupted as exc:  # the transaction rolled back, the workers are stopped
            exc.hint = "nothing was written (apply is one transaction); run the command again"
            raise
        current = store.current_identities() if not dry_run else {}
    finally:
        store.close()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "dry_run": dry_run,
                "issued": list(result.issued),
                "created_cas": list(result.created_cas),
                "trust_added": list(result.trust_added),
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
    for change in result.trust_added:
        click.echo(change)
    if not any(a.kind is not ActionKind.NOTHING for a in result.actions):
        click.echo("nothing to do: every identity is issued and current")
    return 0
