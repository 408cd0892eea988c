"""``ccapki acme``: certificates of ``source = "acme"`` identities from an ACME CA (DNS-01)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    from ccapki.lifecycle.acme import OrderOutcome
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = ["acme", "print_outcomes", "trust_note"]


@click.group(
    invoke_without_command=True,
    epilog="""\b
EXAMPLES
  ccapki acme order --file campus.toml     order what is due (no certificate, renewal window)
  ccapki acme order cas-dorm               order cas-dorm now, due or not
  ccapki acme order --due --dry-run        what would be ordered, and what a public CA refuses
  ccapki acme revoke cas-dorm --reason superseded
  ccapki acme status --json                accounts and orders

The deployment file's [acme] table names the CA's directory, the account e-mail, External
Account Binding, and how DNS-01 records are published (docs/acme.md).

\b
EXIT CODES
  0 done   2 bad input, or an order refused / failed (each with error: and hint:)
  130/143 interrupted: keys already sealed stay pending for the next order
""",
)
@click.pass_context
def acme(ctx: click.Context) -> None:
    """Order, renew and revoke certificates through ACME (RFC 8555, DNS-01)."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)


def print_outcomes(outcomes: list[OrderOutcome], home: str, *, err: bool = False) -> int:
    """Print one line per order (``error:``/``hint:`` for a failed one; the stored ones on
    standard error too with ``err``); 0 all stored, 2 any failed."""
    code = 0
    for o in outcomes:
        p = o.prepared
        if o.ok and o.version is not None:
            leaf = o.fullchain[0]
            reused = "; the pending key of an earlier order" if p.reused_key else ""
            click.echo(
                f"ordered {p.identity} v{o.version} ({', '.join(p.scope.names)}; expires "
                f"{leaf.not_valid_after_utc:%Y-%m-%d}{reused}) in {home}",
                err=err,
            )
            if o.missing_issuer is not None:
                click.echo(
                    f"warning: {p.identity}'s chain stops below {o.missing_issuer}, a root "
                    "the store does not hold (a private ACME CA): import it once, `ccapki "
                    "import ROOT.pem`, so `trust check` and `doctor` can judge the chain",
                    err=True,
                )
            if not o.client_auth:
                click.echo(
                    f"warning: {p.identity}'s certificate has no clientAuth: CAM<->CAS "
                    "mutual TLS fails where it authenticates as a client (`ccapki trust "
                    "check` shows where)",
                    err=True,
                )
        else:
            assert o.error is not None
            click.echo(f"error: {o.error.message}", err=True)
            click.echo(
                f"hint: {o.error.hint} (the key stays sealed, pending: the next order of "
                f"{p.identity} takes it up)",
                err=True,
            )
            code = 2
    return code


def trust_note(
    store: Store, dep: Deployment, outcomes: list[OrderOutcome], *, err: bool = False
) -> None:
    """After certificates were ordered: say when the trust stores need changes for them
    (a CA root the CAM or a CAS must now trust), and what makes them."""
    from ccapki import api
    from ccapki.cli.output import plural

    if not any(o.ok for o in outcomes):
        return
    changes = api.plan_trust(store, dep)
    if changes:
        click.echo(
            f"note: the trust stores need {plural(len(changes), 'change')} for the new "
            "certificate(s): `ccapki trust apply` (or `ccapki apply FILE`) makes them, "
            "`ccapki trust plan` lists them",
            err=err,
        )


@acme.command(
    epilog="""\b
EXAMPLES
  ccapki acme order --file campus.toml     every ACME identity that is due
  ccapki acme order cam cas-dorm           these, due or not
  ccapki acme order --dry-run              what would be ordered; nothing is asked of the CA

Before ordering, it says what a public CA will not issue (IP addresses such as an HA
pair's Service IP: left out; names under .local, .internal, ...) and that the certificate
may lack clientAuth (CAM<->CAS mutual TLS). Each identity's key is sealed in the store,
pending, before the CA is asked; the certificate becomes the identity's current version
(as `ccapki import` would make it).

\b
EXIT CODES
  0 every order stored (or nothing due)
  2 bad input (no [acme], not an ACME identity), or any order failed: refused
    (rateLimited, rejectedIdentifier...), a challenge failed, the CA unreachable
  130/143 interrupted: sealed keys stay pending; run it again
"""
)
@click.argument("identities", nargs=-1, metavar="[IDENTITY]...")
@click.option(
    "--file", "file", type=click.Path(), help="The deployment file (default: the stored one)."
)
@click.option("--due", is_flag=True, help="Every ACME identity due (the default without names).")
@click.option("--dry-run", is_flag=True, help="Say what would be ordered; order nothing.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Orders run at once.",
)
@pass_env
def order(
    env: Env,
    identities: tuple[str, ...],
    file: str | None,
    due: bool,
    dry_run: bool,
    concurrency: int,
) -> int:
    """Order certificates for ACME identities: those named, else those due."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.acme import (
        CLIENT_AUTH_NOTE,
        acme_scope,
        acme_specs,
        due_identities,
        order_identities,
    )

    if identities and due:
        raise InputError("name identities or pass --due, not both", "drop one of them")
    if not dry_run:
        env.refuse_what_if("acme order")
    dep, path = load_deployment_arg(env, file)
    if dep.acme is None:
        raise InputError(
            f"deployment {dep.name} has no [acme] table",
            "add [acme] (directory, email, dns) to the deployment file (docs/acme.md)",
        )
    with env.open_store() as store:
        if not dry_run and dep.name not in store.deployments.names():
            raise InputError(
                f"the store holds no applied deployment {dep.name}",
                f"apply the file first: ccapki apply {path}",
            )
        names = list(identities) or due_identities(store, dep, env.now())
        specs = acme_specs(dep, names)
        if not specs:
            click.echo("nothing to order: every ACME identity is current")
            return 0
        if dry_run:
            for spec in specs:
                scope = acme_scope(spec)
                click.echo(f"would order {spec.name}: {', '.join(scope.names)}")
                for line in scope.report():
                    click.echo(f"note: {line}")
            click.echo(f"note: {CLIENT_AUTH_NOTE}")
            return 0
        outcomes = order_identities(
            store,
            dep,
            [s.name for s in specs],
            concurrency=concurrency,
            report=lambda line: click.echo(f"note: {line}"),
        )
        if any(o.ok for o in outcomes):
            env.work_done()
        code = print_outcomes(outcomes, env.store_where)
        trust_note(store, dep, outcomes)
    return code


@acme.command(
    epilog="""\b
EXAMPLES
  ccapki acme revoke cas-dorm                      reason unspecified
  ccapki acme revoke cas-dorm --reason keyCompromise

The current certificate of the identity is revoked at the CA that issued it (the request
signed by the store's account key). The store keeps it (nothing is deleted); order a new
one with `ccapki acme order IDENTITY`.

\b
EXIT CODES
  0 revoked   2 bad input (no certificate, not from an ACME order, revoked already),
  or the CA refused / is unreachable (nothing marked)
"""
)
@click.argument("identity")
@click.option(
    "--reason",
    type=click.Choice(
        ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"]
    ),
    default="unspecified",
    show_default=True,
)
@click.option(
    "--file", "file", type=click.Path(), help="The deployment file (default: the stored one)."
)
@pass_env
def revoke(env: Env, identity: str, reason: str, file: str | None) -> int:
    """Revoke an ACME identity's current certificate."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.acme import revoke_identity

    env.refuse_what_if("acme revoke")
    dep, _ = load_deployment_arg(env, file)
    with env.open_store() as store:
        fp = revoke_identity(store, dep, identity, reason)
        env.work_done()
    click.echo(
        f"revoked {identity}'s certificate {fp[:16]} ({reason}); order a new one: "
        f"ccapki acme order {identity}"
    )
    return 0


@acme.command(
    epilog="""\b
EXAMPLES
  ccapki acme status          the accounts and their orders
  ccapki acme status --json

\b
EXIT CODES
  0 shown   2 bad input (no store)
"""
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def status(env: Env, as_json: bool) -> int:
    """The deployment's ACME accounts and orders (never a key)."""
    from ccapki.lifecycle.acme import account_summary

    with env.open_store() as store:
        data = account_summary(store)
    if as_json:
        from ccapki.cli.output import print_json

        print_json({"accounts": data})
        return 0
    if not data:
        click.echo("no ACME account yet: `ccapki acme order` registers one")
    for a in data:
        click.echo(f"account {a['account']} at {a['directory']} ({', '.join(a['contact'])})")  # type: ignore[arg-type]
        for o in a["orders"]:  # type: ignore[attr-defined]
            err = f": {o['error']}" if o["error"] else ""
            click.echo(f"  {o['updated'][:16]} {o['identity']} {o['state']}{err}")
    return 0
