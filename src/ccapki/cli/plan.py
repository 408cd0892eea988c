"""``ccapki plan``: how many certificates, for which names (the FAQ's first question)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment
    from ccapki.topology.plan import Action, Plan, PlannedIdentity

__all__ = ["actions_summary", "plan", "render_plan"]


def render_plan(plan: Plan, actions: tuple[Action, ...] | None, kept: Sequence[str] = ()) -> None:
    """The plan's table (with ``actions``: each identity's action, then their summary;
    ``kept``: the adopted certificates kept as they fit the plan, said in one line)."""
    from ccapki.cli.output import console, plural

    dep = plan.deployment
    out = console()
    ha = sum(1 for i in dep.identities if i.ha)
    out.print(
        f"[bold]{dep.name}[/bold]: CCA {dep.release}, {plural(len(dep.appliances), 'appliance')}, "
        f"{plural(ha, 'HA pair')} -> "
        f"[bold]{plural(plan.certificates_needed, 'certificate')} needed[/bold]"
    )
    if len(plan.identities) > PLAIN_FROM:  # rich lays a table out at ~2 ms a row
        _render_plain(plan, actions, out)
    else:
        _render_table(plan, actions, out)
    if actions is not None:  # after a long table, what it asks for in one line
        out.print(actions_summary(actions), soft_wrap=True, markup=False)
    if kept:  # taken with `ccapki import [--file FILE]`: kept, not issued again
        from ccapki.cli.output import kept_words

        out.print(kept_words(kept), soft_wrap=True, markup=False)


#: From this many identities on, the plan is a plain table, one line per identity (rich
#: takes ~2 ms to lay out each row of a boxed table: 3,000 CAS took 6 s of CPU).
PLAIN_FROM = 300
#: The widest a plain column is padded to (a longer cell runs over its own line only).
_PLAIN_WIDTH = 48
_SIGNER_TEXT = {"self": "true self-signed", "perfigo-root": "Perfigo root"}


def _source_text(p: PlannedIdentity, dep: Deployment) -> str:
    from ccapki.topology.plan import signer_for

    source = p.spec.source.value
    signer = signer_for(p, dep)
    if signer in _SIGNER_TEXT and source == "self-signed":
        source += f" ({_SIGNER_TEXT[signer]})"
    return source


def _render_plain(plan: Plan, actions: tuple[Action, ...] | None, out: Console) -> None:
    """The plan as plain columns, one line per identity (lists joined by commas): what a
    plan of thousands of identities is read with (a pager, grep)."""
    dep = plan.deployment
    head = ["IDENTITY", "INSTALLED ON", "SUBJECT", "SANS", "KEY", "DAYS", "SOURCE", "CHANNELS"]
    by_name = {a.identity: a for a in actions or ()}
    rows = []
    for p in plan.identities:
        row = [
            p.name,
            ",".join(p.installed_on),
            f"CN={p.spec.common_name}",
            ",".join([*p.spec.dns_names, *(str(i) for i in p.spec.ip_addresses)]),
            p.spec.key_type.value,
            str(p.validity_days),
            _source_text(p, dep),
            ",".join(c.value for c in p.channels),
        ]
        if actions is not None:
            a = by_name.get(p.name)
            row.append(f"{a.kind.value}: {a.reason}" if a else "")
        rows.append(row)
    if actions is not None:
        head.append("ACTION")
    last = len(head) - 1
    widths = [min(_PLAIN_WIDTH, max(len(head[k]), *(len(r[k]) for r in rows))) for k in range(last)]
    lines = []
    for r in [head, *rows]:
        cells = [
            f"{c:>{w}}" if k == 5 else f"{c:<{w}}"
            for k, (c, w) in enumerate(zip(r[:last], widths, strict=True))
        ]
        lines.append(f"{'  '.join(cells)}  {r[last]}".rstrip())
    out.print("\n".join(lines), soft_wrap=True, markup=False, highlight=False)


def _render_table(plan: Plan, actions: tuple[Action, ...] | None, out: Console) -> None:
    """The plan as rich's boxed table, an identity's lists one item a line."""
    from rich.markup import escape
    from rich.table import Table

    dep = plan.deployment
    table = Table(show_lines=True)
    for col in ("identity", "installed on", "subject / SANs", "key", "days", "source", "channels"):
        table.add_column(col)
    if actions is not None:
        table.add_column("action")
    by_name = {a.identity: a for a in actions or ()}
    for p in plan.identities:
        sans = "\n".join([*p.spec.dns_names, *(str(i) for i in p.spec.ip_addresses)])
        source = _source_text(p, dep)
        row = [
            p.name,
            "\n".join(p.installed_on),
            f"CN={p.spec.common_name}\n[dim]{sans}[/dim]",
            p.spec.key_type.value,
            str(p.validity_days),
            source,
            "\n".join(c.value for c in p.channels),
        ]
        if actions is not None:
            a = by_name.get(p.name)
            # a reason may name a TOML table ("[deployment]"): text, not markup
            row.append(f"{a.kind.value}\n[dim]{escape(a.reason)}[/dim]" if a else "")
        table.add_row(*row)
    out.print(table)


def actions_summary(actions: tuple[Action, ...]) -> str:
    """``pending actions: 28 csr (cas020, cas030, cas040 +25), 273 nothing to do``
    (``pending actions: none (6 identities up to date)`` when nothing is): how many
    identities each kind of action concerns (in the order of
    :class:`~ccapki.topology.plan.ActionKind`), naming the first three of each kind that
    asks for something."""
    from ccapki.topology.plan import ActionKind

    if actions and all(a.kind is ActionKind.NOTHING for a in actions):
        n = len(actions)
        return f"pending actions: none ({n} {'identity' if n == 1 else 'identities'} up to date)"
    parts = []
    for kind in ActionKind:
        names = [a.identity for a in actions if a.kind is kind]
        if not names:
            continue
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        if kind is ActionKind.NOTHING:
            parts.append(f"{len(names)} nothing to do")
        else:
            parts.append(f"{len(names)} {kind.value} ({shown})")
    return "pending actions: " + (", ".join(parts) if parts else "none")


def _apply_before_csr(
    store: Store, dep: Deployment, file: str, actions: tuple[Action, ...]
) -> tuple[Action, ...]:
    """``actions`` with each CSR to make said in the right order when ``file`` is not
    (for that identity) the file the store last applied: ``ccapki csr`` makes the CSR from
    the file last applied, so ``ccapki apply FILE`` comes first."""
    import dataclasses

    from ccapki.cli.unapplied import csr_differs
    from ccapki.errors import CcapkiError
    from ccapki.topology.fastload import parse_deployment
    from ccapki.topology.plan import CSR_STEP, ActionKind

    if not any(a.kind is ActionKind.CSR for a in actions):
        return actions
    kept = store.deployments.latest()
    applied = None
    if kept is not None:
        try:
            applied = parse_deployment(kept.text, kept.path or "<stored deployment>")
        except CcapkiError:  # a stored file that no longer parses: apply this one
            applied = None
    shown = "FILE" if file == "-" else file
    out = []
    for a in actions:
        why = csr_differs(applied, dep, a.identity) if a.kind is ActionKind.CSR else ""
        if why:
            # the CSR step's own reason (": stale ..." after it), or another reason (a
            # certificate lacking names the file gives it): said after a colon either way
            rest = a.reason.removeprefix(CSR_STEP)
            if rest == a.reason and rest:
                rest = f": {rest}"
            a = dataclasses.replace(
                a,
                reason=f"apply this file first (`ccapki apply {shown}`), then make the CSR "
                f"(`ccapki csr {a.identity}`) and send it to the CA (`ccapki csr` works from "
                f"the file last applied, and {why}){rest}",
            )
        out.append(a)
    return tuple(out)


def _say_namesake(store: Store, dep: Deployment, file: str) -> None:
    """A warning when the file's deployment is new to the store but another deployment
    plans its appliances: `apply` refuses it (a renamed file, most likely)."""
    if dep.name in store.deployments.names():
        return
    from ccapki.lifecycle.namesakes import same_appliances, same_appliances_words

    found = same_appliances(store, dep)
    if found:
        words = same_appliances_words(file, dep, found[0]).replace(
            "applying it makes", "`apply` refuses it, as it would make", 1
        )
        click.echo(
            f'warning: {words}\nhint: put `name = "{found[0].deployment}"` back under '
            "[deployment], or apply with --new-deployment for a separate PKI on purpose",
            err=True,
        )


@click.command(
    epilog="""\b
EXAMPLES
  ccapki plan examples/faq.toml           6 certificates: 1 CAM pair, 3 CAS pairs, 2 CAS
  ccapki plan examples/faq.toml --json    {"deployment": ..., "certificates_needed": 6, ...}
  cat campus.toml | ccapki plan -         - : the deployment from standard input

\b
EXIT CODES
  0 plan printed   2 the deployment file is broken (error: FILE:LINE)
"""
)
@click.argument("file", required=False, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def plan(env: Env, file: str | None, as_json: bool) -> int:
    """Print the certificate plan (and, once a store exists, the pending actions).

    FILE is the deployment file (`-`: standard input); none: the deployment the store
    last applied, as it was then (a note says when that file changed on disk since)."""
    from ccapki import api
    from ccapki.cli.common import load_deployment_arg

    dep, _ = load_deployment_arg(env, file, stdin=True)  # read-only: `-` is standard input
    p = api.make_plan(dep)
    for warning in p.warnings:  # up front: what the plan gives that clients will refuse
        click.echo(f"warning: {warning}", err=True)
    actions = None
    kept: list[str] = []
    with env.optional_store() as store:  # none, or one to upgrade first (noted)
        if store is not None:
            if file is None:  # the file as applied: say so when it was edited since
                from ccapki.cli.unapplied import edited_since_applied

                edited = edited_since_applied(store, "plan")
                if edited:
                    click.echo(edited, err=True)
            actions = api.pending_actions(store, p, env.now())
            if file is not None:  # a file given: maybe not the one `ccapki csr` works from
                actions = _apply_before_csr(store, dep, file, actions)
                _say_namesake(store, dep, file)
            from ccapki.cli.output import adopted_kept

            kept = adopted_kept(store, dep.name, actions)
    if as_json:
        from ccapki.cli.output import print_json

        data = p.to_json()
        if actions is not None:
            data["pending_actions"] = [
                {"identity": a.identity, "action": a.kind.value, "reason": a.reason}
                for a in actions
            ]
            data["kept_adopted"] = kept  # adopted certificates that fit the plan: kept
        print_json(data)
    else:
        render_plan(p, actions, kept)
    return 0
