"""``ccapki trust``: trust stores, the channel matrix, the smallest fix, rotation what-if."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography import x509

    from ccapki.lifecycle.trustops import Inventory, Matrix
    from ccapki.topology.model import Deployment, IdentitySpec
    from ccapki.trust import Change

__all__ = ["trust"]


@click.group(
    epilog="""\b
EXAMPLES
  ccapki trust list cas-dorm-a                 the appliance's Trusted Certificate Authorities
  ccapki trust check                           every channel, every appliance (exit 1: findings)
  ccapki trust check --clients mozilla         clients with only the common OS roots
  ccapki trust plan                            the smallest set of trust-store changes
  ccapki trust apply                           carry them out in the store
  ccapki trust plan --rotate cam --to-source internal

\b
EXIT CODES
  0 done (`ccapki trust` alone: this help)   1 trust check: findings or renewals due
  2 bad input (see each command's --help)
"""
)
def trust() -> None:
    """Trust stores and trust verdicts for every channel (CAM<->CAS, HA, clients, GUI)."""


def _inventory(env: Env) -> tuple[Deployment, Inventory]:
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.trustops import load_inventory

    dep, _ = load_deployment_arg(env, None)
    with env.open_store() as store:
        return dep, load_inventory(store, dep)


def _appliance(env: Env, name: str) -> str:
    """The appliance ``name``; an HA pair's name is refused, naming its peers (each has
    its own trust store: :func:`_appliances` takes the pair where a command acts on both)."""
    found = _appliances(env, name)
    if len(found) > 1:
        raise InputError(
            f"{name} is an HA pair: each of its peers ({', '.join(found)}) has its own trust store",
            f"name one peer, e.g. `{found[0]}`",
        )
    return found[0]


def _appliances(env: Env, name: str) -> list[str]:
    """The appliance ``name``, or both peers of the HA pair (identity) ``name``, as
    `renew` and `probe` take a pair's name."""
    from ccapki.cli.common import load_deployment_arg

    dep, _ = load_deployment_arg(env, None)
    names = [a.name for a in dep.appliances]
    if name in names:
        return [name]
    pair = next((i for i in dep.identities if i.name == name and i.ha), None)
    if pair is not None:
        return [m.name for m in pair.members]
    raise InputError(f"no appliance named {name!r}", f"use one of: {', '.join(names)}")


@trust.command(
    "list",
    epilog="""\b
EXAMPLES
  ccapki trust list cas-dorm-a          fingerprint, name and expiry of each trusted CA
  ccapki trust list cam-a --json

\b
EXIT CODES
  0 listed (an empty trust store too)   2 unknown appliance, or no store
""",
)
@click.argument("appliance")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def trust_list(env: Env, appliance: str, as_json: bool) -> int:
    """List an appliance's Trusted Certificate Authorities."""
    from ccapki.pki.certs import display_name

    name = _appliance(env, appliance)
    with env.open_store() as store:
        rows = store.trust.entries(name)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            [
                {
                    "fingerprint": e.fingerprint,
                    "label": e.label,
                    "subject": e.certificate.subject.rfc4514_string(),
                    "not_after": e.certificate.not_valid_after_utc.isoformat(),
                }
                for e in rows
            ]
        )
        return 0
    if not rows:
        click.echo(f"{name}: the trust store is empty")
    for e in rows:
        until = e.certificate.not_valid_after_utc
        click.echo(f"{e.fingerprint[:16]}  {display_name(e.certificate)}  (until {until:%Y-%m-%d})")
    return 0


@trust.command(
    "add",
    epilog="""\b
EXAMPLES
  ccapki trust add cas-dorm-a outside-root.pem     add a CA to the appliance's trust store
  ccapki trust add cam-a bundle.p7b                every certificate of a PKCS#7 bundle
  ccapki trust add cas-dorm radius-ca.pem          an HA pair's name: both peers' stores

A trust store takes CA certificates (and a peer's self-signed certificate): a certificate
issued by a CA is refused (trust its CA instead) unless --force; a private key is never needed.

\b
EXIT CODES
  0 added (or already trusted)   2 unknown appliance, an unreadable file, a private key or a
  certificate that is not a CA's: nothing added
""",
)
@click.argument("appliance")
@click.argument("cert_file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Add a certificate that is not a CA's (warns).")
@pass_env
def trust_add(env: Env, appliance: str, cert_file: str, force: bool) -> int:
    """Add the certificates of CERT_FILE to an appliance's trust store."""
    env.refuse_what_if("trust add")
    from ccapki.errors import PasswordError
    from ccapki.fsutil import read_input_file
    from ccapki.lifecycle.trustops import HAND_ADDED, certificates_to_trust
    from ccapki.pki.certs import display_name
    from ccapki.pki.formats import parse_material

    targets = _appliances(env, appliance)
    try:
        material = parse_material(read_input_file(cert_file), source=cert_file)
    except PasswordError as exc:  # `trust add` takes no password: nothing to unlock with
        if "PKCS#12" not in exc.message:  # an encrypted private key: never trusted
            raise PasswordError(
                exc.message,
                "a trust store holds CA certificates, never a key: give the CA's certificate "
                "(PEM, DER or PKCS#7)",
            ) from None
        raise PasswordError(
            exc.message,
            f"take the CA certificates out first (`openssl pkcs12 -in {cert_file} -nokeys "
            f"-cacerts -out ca.pem`), then `ccapki trust add {appliance} ca.pem`",
        ) from None
    certs, warnings = certificates_to_trust(material, force=force, now=env.now())
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    with env.open_store() as store, store.transaction():
        for target in targets:  # an HA pair: both peers, in one transaction
            for c in certs:
                # the label names the CA too: `status` shows it as the entry's name
                label = f"{HAND_ADDED}{cert_file}: {display_name(c)}"
                added = store.trust.add(target, c, label)
                state = "added" if added else "already trusted"
                click.echo(f"{state}: {display_name(c)} on {target}")
    return 0


@trust.command(
    "remove",
    epilog="""\b
EXAMPLES
  ccapki trust remove cas-dorm-a 3f9a2c1b     by the start of its SHA-256 fingerprint
                                              (`ccapki trust list cas-dorm-a` shows it)

\b
EXIT CODES
  0 removed   2 unknown appliance, not hex, a prefix of several certificates' fingerprints,
    or no trusted certificate with that fingerprint: nothing removed
""",
)
@click.argument("appliance")
@click.argument("fingerprint")
@pass_env
def trust_remove(env: Env, appliance: str, fingerprint: str) -> int:
    """Remove a certificate (by SHA-256 fingerprint prefix) from an appliance's trust store."""
    env.refuse_what_if("trust remove")
    name = _appliance(env, appliance)
    fp = fingerprint.strip().lower().replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{4,64}", fp):
        # "" (an unset $FP) or "%" would match every certificate of the trust store
        raise InputError(
            f"{fingerprint!r} is not the start of a SHA-256 fingerprint "
            "(4 to 64 hex digits; nothing was removed)",
            f"copy it from `ccapki trust list {name}` (the first 8 hex digits are enough), "
            f"e.g. `ccapki trust remove {name} 3f9a2c1b`",
        )
    with env.open_store() as store, store.transaction():
        several = [e for e in store.trust.entries(name) if e.fingerprint.startswith(fp)]
        if len(several) > 1:
            listed = ", ".join(f"{e.fingerprint[:16]} ({e.label})" for e in several)
            raise InputError(
                f"{fingerprint!r} starts the fingerprints of {len(several)} certificates on "
                f"{name}: {listed}; nothing was removed",
                f"give more hex digits of the one to remove (`ccapki trust list {name}`)",
            )
        n = store.trust.remove(name, fp)
    if n == 0:
        raise InputError(
            f"no trusted certificate on {name} has a fingerprint starting {fingerprint!r}",
            f"see `ccapki trust list {name}`",
        )
    from ccapki.cli.output import plural

    click.echo(f"removed {plural(n, 'certificate')} from {name}")
    return 0


def dn_pair_note(spec: IdentitySpec) -> str:
    """What the 4.9 DN authorization line of CAS HA pair ``spec`` adds after the DN (the
    line names the primary): the one entry serves both peers, which present one
    certificate."""
    a, b = (m.name for m in spec.members)
    return f"(HA pair {spec.name}: one entry for both peers, {a} and {b}, one certificate)"


def render_matrix(matrix: Matrix, dep: Deployment) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ccapki.cli.output import console, plural
    from ccapki.topology.model import Channel

    out = console()
    channels = list(Channel)
    t = Table(title=f"trust check: {dep.name} (CCA {dep.release})", title_justify="left")
    t.add_column("appliance")
    for ch in channels:
        t.add_column(ch.value)
    cells = {(c.appliance, c.channel): c for c in matrix.cells}
    for a in dep.appliances:
        row = [a.name]
        for ch in channels:
            c = cells.get((a.name, ch))
            if c is None or c.ok is None:
                row.append("[dim]n/a[/dim]")
            elif c.ok and c.warnings:
                row.append("[yellow]WARN[/yellow]")  # passes today; renew soon (see below)
            else:
                row.append("[green]pass[/green]" if c.ok else "[red]FAIL[/red]")
        t.add_row(*row)
    out.print(t)
    # a cell joins the cases of its links ("internal PKI, true self-signed"): one line for all
    cases = sorted({n for c in matrix.cells if c.case for n in c.case.split(", ")})
    if cases:
        label = "CAM/CAS case" if len(cases) == 1 else "CAM/CAS cases"
        out.print(f"{label}: " + ", ".join(f"[bold]{n}[/bold]" for n in cases))
    if not matrix.ok:
        out.print(
            "legend: A -> B = A connects to B and checks B's server certificate; "
            "A <- B (client cert) = A checks the client certificate B presents; "
            "both against A's trust store",
            soft_wrap=True,
        )
    for c in matrix.cells:
        if c.ok is False:
            # each finding one line however long (soft_wrap): piped to grep or less, a
            # finding cut at the console's width would lose its fix
            out.print(f"[red]FAIL[/red] {c.appliance} {c.channel.value}:", soft_wrap=True)
            for f in c.findings[:4]:
                out.print(f"   {escape(f)}", soft_wrap=True)
            if len(c.findings) > 4:
                out.print(f"   (+{len(c.findings) - 4} more: --json shows all)")
            if c.requires:
                out.print(
                    f"   the FAQ's case ({c.case}) requires: {escape(c.requires)}",
                    soft_wrap=True,
                )
    renewals, strictness = matrix.renewals, matrix.strictness
    for warning, where in renewals.items():
        out.print(f"[yellow]WARN[/yellow] {escape(warning)}", soft_wrap=True)
        more = f" (+{len(where) - 6} more)" if len(where) > 6 else ""
        out.print(f"   concerns: {', '.join(where[:6])}{more}", soft_wrap=True)
    if strictness:
        out.print(
            "stack-accepted (nothing breaks on these channels, no renewal changes them; "
            "clients applying web-PKI rules may refuse):",
            soft_wrap=True,
        )
    for warning, where in strictness.items():
        out.print(f"[yellow]WARN[/yellow] {escape(warning)}", soft_wrap=True)
        more = f" (+{len(where) - 6} more)" if len(where) > 6 else ""
        out.print(f"   concerns: {', '.join(where[:6])}{more}", soft_wrap=True)
    if matrix.dn_authorization:
        out.print("4.9 CAM-CAS authorization: the CAM must allow these CAS DNs:")
        pairs = {s.primary.name: s for s in dep.cas}
        for primary, dn in matrix.dn_authorization:
            spec = pairs.get(primary)
            note = f" {dn_pair_note(spec)}" if spec is not None and spec.ha else ""
            out.print(f"   {primary}: {escape(dn)}{note}", soft_wrap=True)
    due, strict = len(renewals), len(strictness)
    accepted = (
        f"{plural(strict, 'stack-accepted warning')} above: nothing breaks on these channels, "
        "clients applying web-PKI rules may refuse"
    )
    if not matrix.ok:
        failed = [c for c in matrix.cells if c.ok is False]
        failing = {c.appliance for c in failed}
        verdict = (
            f"findings above: {plural(len(failed), 'cell')} FAIL on "
            f"{plural(len(failing), 'appliance')}"
        )
    elif due:
        verdict = f"all pass today, but {plural(due, 'warning')} above: renew before the outage"
        if strict:
            verdict += f"; {accepted}"
    elif strict:
        verdict = f"all pass; {accepted}"
    else:
        verdict = "all pass"
    # one line, however narrow the terminal: scripts and eyes look for it
    out.print(f"{plural(matrix.verifications, 'chain verification')}; {verdict}", soft_wrap=True)


@trust.command(
    "check",
    epilog="""\b
EXAMPLES
  ccapki trust check                         every appliance x channel
  ccapki trust check --clients mozilla       clients holding only the common OS roots
  ccapki trust check --clients roots.pem --json
  CCAPKI_NOW=2027-06-01T00:00:00+00:00 ccapki trust check      what-if: later

\b
EXIT CODES
  0 every channel passes (also with stack-accepted warnings only)
  1 findings, or a certificate due for renewal (WARN: renew before the outage)
  2 bad input (no store, no deployment, an unreadable --clients file)
""",
)
@click.option(
    "--clients",
    default="installed",
    show_default=True,
    metavar="installed|mozilla|FILE",
    help="Client root store: the OS roots plus the roots ccapki says to install (installed), "
    "the common OS roots only (mozilla, the certifi bundle), or a bundle FILE.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def trust_check(env: Env, clients: str, as_json: bool) -> int:
    """Evaluate every channel of the deployment: exit 0 all pass, 1 findings or renewals due.

    A channel that passes while a certificate it relies on is inside its renewal window (a
    third of its lifetime, at most 30 days: when `ccapki apply` renews) shows WARN, with the
    certificate and the days left, and the exit code is 1. A channel whose stack accepts
    what web-PKI refuses (e.g. a third-party CA without keyUsage on the CAM/CAS link's Java
    PKIX) shows WARN too, listed apart as stack-accepted: nothing breaks on that channel and
    no renewal changes it, so it alone leaves the exit code 0.
    """
    import os

    from ccapki import api
    from ccapki.cli.common import load_deployment_arg

    if clients not in ("installed", "mozilla") and not os.path.lexists(clients):
        raise InputError(  # `--clients mozila`: a typo of a name, or a path that is not there
            f"--clients {clients}: no such file, nor a client root store ccapki knows",
            "give installed (the default: the OS roots plus those ccapki says to install), "
            "mozilla (the common OS roots only), or the path of a PEM, DER or PKCS#7 bundle",
        )
    dep, _ = load_deployment_arg(env, None)
    with env.open_store() as store:
        matrix = api.check_trust(store, dep, env.now(), clients=clients)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(matrix.to_json())
    else:
        render_matrix(matrix, dep)
    return 0 if matrix.clean else 1


@trust.command(
    "plan",
    epilog="""\b
EXAMPLES
  ccapki trust plan                              the smallest set of changes, GUI words
  ccapki trust plan --prune                      also what no channel needs any more
  ccapki trust plan --rotate cam --to-source internal     what breaks, the safe order
  ccapki trust plan --rotate cam                 a new key and certificate, same source

\b
EXIT CODES
  0 plan shown (also "no trust-store change")   2 bad input (unknown identity, no store)
""",
)
@click.option("--rotate", "rotate", metavar="IDENTITY", help="What if this identity is replaced?")
@click.option(
    "--to-source",
    type=click.Choice(["internal", "third-party", "self-signed", "perfigo"]),
    help="The source of the replacement (default: the identity's own).",
)
@click.option("--prune", is_flag=True, help="Also remove what no channel needs any more.")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def trust_plan(
    env: Env, rotate: str | None, to_source: str | None, prune: bool, as_json: bool
) -> int:
    """The smallest set of trust-store changes that makes every channel pass."""
    from ccapki.lifecycle.trustops import issuers_missing, trust_changes
    from ccapki.pki.certs import name_label

    if rotate == "":  # `--rotate "$NAME"` with NAME unset: never the plain plan instead
        raise InputError(
            "--rotate is empty",
            "name the identity whose replacement to plan (`--rotate IDENTITY`), or leave "
            "--rotate out for the trust plan itself",
        )
    if to_source and not rotate:
        raise click.UsageError(
            "--to-source needs --rotate IDENTITY (the identity whose replacement it names)",
            click.get_current_context(),
        )
    dep, inv = _inventory(env)
    if rotate:
        return _rotation(env, dep, inv, rotate, to_source, as_json)
    changes = trust_changes(inv, prune=prune)
    if as_json:
        from ccapki.cli.output import print_json

        # which certificate, as the text's removals say and `trust list --json` keys it
        print_json(
            [
                {
                    "action": c.action,
                    "appliance": c.appliance,
                    "text": str(c),
                    "subject": c.certificate.subject.rfc4514_string(),
                    "fingerprint": c.fingerprint,
                    "not_after": c.certificate.not_valid_after_utc.isoformat(),
                }
                for c in changes
            ]
        )
        return 0
    missing = issuers_missing(inv)
    if not changes and not missing:
        # "no trust-store change": the 4.9 DN authorization lines below may still follow
        click.echo("no trust-store change: every trust store holds what its channels need")
    for c in changes:
        if c.action == "add":
            click.echo(str(c))
    for name, issuer in missing.items():
        # its own CA-signed certificate is never the entry to add (the FAQ: the root that
        # signed it); what is missing is that CA's certificates
        click.echo(
            f"no trust-store entry yet for {name}: the store holds no certificate of its "
            f"issuer {name_label(issuer)}; `ccapki import` that CA's certificates "
            "(intermediate and root), then `ccapki trust plan` again"
        )
    _echo_removals([c for c in changes if c.action == "remove"])
    if not prune:
        _echo_prunable(inv)
    else:
        _echo_kept_by_hand(inv)
    if dep.profile.dn_authorization:
        for spec in dep.cas:
            chain = inv.chain_of(spec)
            if chain:
                click.echo(
                    f"allow CAS {spec.primary.name} by DN on the CAM (4.9 authorization): "
                    f"{chain[0].subject.rfc4514_string()}"
                    + (f" {dn_pair_note(spec)}" if spec.ha else "")
                )
    return 0


def _echo_prunable(inv: Inventory) -> None:
    """A note when trust stores still hold certificates no channel needs any more (a CAS
    removed from the file, an identity moved to another CA, an issuer retired): they stay
    trusted until pruned, so say which and how; nothing when there are none."""
    from ccapki.cli.output import plural
    from ccapki.lifecycle.trustops import trust_changes

    extra = [c for c in trust_changes(inv, prune=True) if c.action == "remove"]
    if not extra:
        return
    which = list(dict.fromkeys(c.description for c in extra))
    shown = "; ".join(which[:3]) + (f"; and {len(which) - 3} more" if len(which) > 3 else "")
    click.echo(
        f"note: {plural(len(extra), 'trust-store entry', 'trust-store entries')} no channel "
        f"needs any more {'is' if len(extra) == 1 else 'are'} still trusted ({shown}): "
        "`ccapki trust plan --prune` lists them, `ccapki trust apply --prune` removes them "
        "(never one added with `ccapki trust add`)"
    )


def _echo_kept_by_hand(inv: Inventory) -> None:
    """With ``--prune``: a note naming what no channel needs but stays, because an
    administrator added it (`ccapki trust add`); nothing when there is none."""
    from ccapki.cli.output import plural
    from ccapki.lifecycle.trustops import kept_by_hand

    kept = kept_by_hand(inv)
    if not kept:
        return
    which = "; ".join(
        f"{c.appliance}: {c.description} [SHA-256 {c.fingerprint[:16]}]" for c in kept[:3]
    )
    more = f"; and {len(kept) - 3} more" if len(kept) > 3 else ""
    click.echo(
        f"kept: {plural(len(kept), 'trust-store entry', 'trust-store entries')} added by hand "
        f"(`ccapki trust add`) that no channel of the deployment needs ({which}{more}): "
        "`ccapki trust remove APPLIANCE FINGERPRINT` removes one"
    )


def _echo_removals(removes: list[Change]) -> None:
    """One line per certificate to remove: which, its fingerprint and expiry, and every
    trust store it leaves (grouped by the GUI page that lists them)."""
    from ccapki.cli.output import plural

    groups: dict[str, list[Change]] = {}
    for c in removes:
        groups.setdefault(c.fingerprint, []).append(c)
    for fp, group in groups.items():
        first = group[0]
        where = []
        for role, title in (("cam", "CAM"), ("cas", "CAS")):
            names = [c.appliance for c in group if c.role == role]
            if names:
                gui = next(c.gui_path for c in group if c.role == role)
                where.append(f"{title} {', '.join(names)} ({gui})")
        click.echo(
            f"remove {first.description} [SHA-256 {fp[:16]}, expires "
            f"{first.certificate.not_valid_after_utc:%Y-%m-%d}] from "
            f"{plural(len(group), 'trust store')}: {'; '.join(where)}"
        )


def _rotation(
    env: Env, dep: Deployment, inv: Inventory, name: str, to_source: str | None, as_json: bool
) -> int:
    from ccapki.lifecycle.apply import ensure_issuers, issue_one, signer_for
    from ccapki.lifecycle.trustops import rotation_plan, third_party_steps
    from ccapki.topology.model import Source
    from ccapki.topology.plan import make_plan, with_source

    spec = dep.identity(name)
    source = Source(to_source) if to_source else spec.source
    if source is Source.THIRD_PARTY:
        raise InputError(
            "a third-party certificate's issuer is known only once the CA returns it",
            f"order it (`ccapki acme order {spec.name}`), then run `ccapki trust plan` for "
            "the trust-store changes"
            if spec.acme and not to_source
            else third_party_steps(spec.name, switching=spec.source is not Source.THIRD_PARTY),
        )
    plan = make_plan(dep)
    p = plan.get(spec.name)
    p = with_source(p, dep, source)  # that source's validity too
    signer = signer_for(p, dep)
    with env.open_store() as store, store.transaction():
        # a what-if: CAs it would create are minted, used, and rolled back
        issuers, created = ensure_issuers(store, plan, env.now(), needed={signer} - {"self"})
        record = issue_one(p, signer, issuers, env.now())
        breaks, steps = rotation_plan(
            inv, spec.name, [record.certificate, *record.chain], env.now(), created=created
        )
        store.rollback()
    same = source is spec.source
    old = inv.chain_of(spec)
    meaning = _same_source_meaning(
        spec.name, source.value, record.certificate, old[0] if old else None, signer == "self"
    )
    clients = _rotation_clients(spec, [record.certificate, *record.chain], old, signer == "self")
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "same_source": same,
                "meaning": meaning if same else None,
                "breaks": breaks,
                "steps": [{"order": s.order, "text": s.text} for s in steps],
                "clients": clients,
            }
        )
        return 0
    article = "an" if source.value[0] in "aeiou" else "a"
    if same:
        click.echo(f"if {spec.name} got a new {source.value} certificate now ({meaning}):")
    else:
        click.echo(f"if {spec.name} switched to {article} {source.value} certificate now:")
    for b in breaks or ["nothing breaks"]:
        click.echo(f"  breaks: {b}")
    if clients:  # not an appliance's trust store: before the numbered steps
        click.echo(f"  clients: {clients}")
    click.echo("safe order:")
    for s in steps:
        click.echo(f"  {s.order}. {s.text}")
    return 0


def _rotation_clients(
    spec: IdentitySpec,
    new_chain: Sequence[x509.Certificate],
    old_chain: Sequence[x509.Certificate] | None,
    self_signed: bool,
) -> str | None:
    """What the clients of ``spec`` (admin-GUI browsers; for a CAS also agents and web
    login) must trust before it presents ``new_chain`` when its top is not the top of
    ``old_chain`` (a new root, or a new true self-signed certificate: the appliances'
    trust stores are the steps above, the clients' are not); None when it is the same."""
    from ccapki.pki.certs import display_name
    from ccapki.topology.model import Role

    top = new_chain[-1]
    if old_chain and old_chain[-1] == top:
        return None
    who = (
        "admin-GUI browsers"
        if spec.role is Role.CAM
        else "agents, web-login and admin-GUI browsers"
    )
    what = (
        f"{spec.name}'s new own certificate (true self-signed)"
        if self_signed
        else f"root CA {display_name(top)}"
    )
    return (
        f"{who} need {what} in their trusted roots before the swap, or they warn or refuse "
        f"{spec.name}: `ccapki export-roots --out DIR` writes it once `ccapki apply` (or "
        "`ccapki renew --commit`) has made it; keep the old root there until then"
    )


def _same_source_meaning(
    name: str,
    source: str,
    new: x509.Certificate,
    old: x509.Certificate | None,
    self_signed: bool,
) -> str:
    """What rotating ``name`` to the source it has already means, in a few words."""
    from ccapki.pki.certs import issuer_display_name

    head = f"{name} is {source} already: a new key and"
    if self_signed:
        return (
            f"{head} a new self-signed certificate, its own new anchor, which every peer "
            "must trust before it is served"
        )
    issuer = issuer_display_name(new)
    if old is not None and old.issuer != new.issuer:
        return f"{head} certificate from {issuer}, a new issuer of the same source"
    return f"{head} certificate from the same issuer, {issuer}"


@trust.command(
    "apply",
    epilog="""\b
EXAMPLES
  ccapki trust plan && ccapki trust apply        carry out the plan in the store
  ccapki trust apply --prune                     removals too

\b
EXIT CODES
  0 done (also "nothing to change")   2 bad input (no store, no deployment)
""",
)
@click.option("--prune", is_flag=True, help="Also remove what no channel needs any more.")
@pass_env
def trust_apply(env: Env, prune: bool) -> int:
    """Carry out `trust plan` in the store."""
    env.refuse_what_if("trust apply")
    from ccapki.cli.common import load_deployment_arg
    from ccapki.lifecycle.trustops import apply_changes, load_inventory, trust_changes

    dep, _ = load_deployment_arg(env, None)
    # decided under the write lock: what another writer did meanwhile is seen, not undone
    with env.open_store() as store, store.transaction():
        inv = load_inventory(store, dep)
        changes = trust_changes(inv, prune=prune)
        apply_changes(store, changes)
    for c in changes:
        # a removal says which certificate (as `trust plan` does): an identity renewed
        # twice before a prune leaves two of its certificates, described alike
        click.echo(f"done: {c.identified if c.action == 'remove' else c}")
    if not changes:
        click.echo("nothing to change")
    if not prune:
        with env.open_store() as store:
            _echo_prunable(load_inventory(store, dep))
    else:
        _echo_kept_by_hand(inv)
    return 0
