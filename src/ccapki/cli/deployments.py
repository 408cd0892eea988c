"""``ccapki deployments``: the deployments a store holds."""

from __future__ import annotations

import click

from ccapki.cli.app import Env, pass_env

__all__ = ["deployments"]


@click.command(
    epilog="""\b
EXAMPLES
  ccapki deployments                        name, identities, when last applied
  ccapki --deployment hospital inspect cam  act on one of them
  CCAPKI_DEPLOYMENT=hospital ccapki trust check

\b
A store holds any number of deployments: each `ccapki apply FILE` acts on the deployment
its file names (`[deployment] name`), a new name making a new one. Each deployment has its
own identities, CAs and trust stores. Commands without a deployment file act on the
store's only deployment, or on the one --deployment (or CCAPKI_DEPLOYMENT) names.

\b
EXIT CODES
  0 listed   2 no store there
"""
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def deployments(env: Env, as_json: bool) -> int:
    """List the deployments the store holds."""
    env.deployment_option = None  # lists them all, whichever is named
    with env.open_store() as store:
        rows = store.deployments.summary()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            [
                {
                    "name": r.name,
                    "identities": r.identities,
                    "last_applied": r.last_applied.isoformat() if r.last_applied else None,
                    "path": r.path,
                }
                for r in rows
            ]
        )
        return 0
    if not rows:
        click.echo("no deployment yet: `ccapki apply FILE` applies your deployment file")
        return 0
    width = max(len("DEPLOYMENT"), *(len(r.name) for r in rows))
    click.echo(f"{'DEPLOYMENT':<{width}}  IDENTITIES  LAST APPLIED")
    for r in rows:
        when = f"{r.last_applied:%Y-%m-%d %H:%M} UTC" if r.last_applied else "never"
        where = f" from {r.path}" if r.path else ""
        click.echo(f"{r.name:<{width}}  {r.identities:>10}  {when}{where}")
    return 0
