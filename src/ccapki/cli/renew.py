"""``ccapki renew``: reissue what is due (or named), in the order that breaks nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ccapki.lifecycle.certfiles import ClientRoot
    from ccapki.lifecycle.csrdelivery import Handed
    from ccapki.lifecycle.renew import CsrMade, RenewalPlan, RenewalResult
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = ["client_root_words", "install_order", "lab_runs", "renew"]

DRY_RUN = "dry run: nothing changed; run again with --commit"


@click.command(
    epilog="""\b
EXAMPLES
  ccapki renew --due                      what is due, in the safe order (a dry run)
  ccapki renew --due --commit             renew it: new versions, CSRs for third-party CAs
  ccapki renew cam --commit               renew the CAM's identity now, due or not
  ccapki renew cas-dorm-a                 an HA peer names its pair: both at once
  CCAPKI_NOW=2027-12-01T00:00:00+00:00 ccapki renew --due     what-if: what is due then
  ccapki renew cas-pub --commit --out csrs/   a third-party identity: csrs/cas-pub.csr
  ccapki renew cas-pub --commit --out - > cas-pub.csr   the CSR on standard output

The order: new issuers and trust-store additions first, then the identities, then
retiring the old issuer where nothing needs it (`ccapki trust apply --prune`, once the
appliances serve the new certificates). A third-party identity gets a CSR (written to
--out) and keeps its current certificate until `ccapki import` brings the new one.
--due takes it from the first stage `ccapki status` warns of (the CA's answer takes
time); one whose CSR awaits the CA is skipped, unless that CSR is stale (made for names
or a key type the file no longer gives): a new CSR replaces it. A CSR file takes its
name only once the store kept its key: a run killed in between leaves that CSR in the
store (`status` names it), and the next --commit writes it (the same CSR, no new key).
[renewal] key = "rotate" (default: a new key) or "keep" in the deployment file.

Two runs at once (two administrators, the service's renew job) renew an identity once:
the one that writes second finds, under the store's write lock, that the other renewed
it after it began, and leaves it so ("cas-dorm was renewed at ... by another run (now
v2 ...): nothing renewed"); run the command again to renew it once more.

\b
EXIT CODES
  0 plan shown, or renewed (also "nothing is due", and an identity another run
    renewed while this one ran: said on one line, not renewed a second time)
  2 bad input: unknown identity, neither IDENTITY nor --due, --commit under CCAPKI_NOW,
    an unwritable --out (nothing renewed)
  130/143 interrupted: nothing was renewed (one transaction); run the command again
"""
)
@click.argument("identities", nargs=-1, metavar="[IDENTITY]...")
@click.option("--due", is_flag=True, help="Every identity inside its renewal window.")
@click.option("--commit", is_flag=True, help="Renew (without it: a dry run, nothing changes).")
@click.option(
    "--out",
    metavar="DIR",
    default=".",
    show_default=True,
    help="Folder for the CSRs of third-party identities (made if missing); - prints them "
    "on standard output (the report then goes to standard error).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def renew(
    env: Env, identities: tuple[str, ...], due: bool, commit: bool, out: str, as_json: bool
) -> int:
    """Renew identities inside their renewal window (--due) or named, from their source."""
    import datetime as dt

    from ccapki import api

    # the machine's clock (CCAPKI_NOW is a what-if one): a renewal another run writes
    # after this moment is not made a second time by this run
    started = dt.datetime.now(dt.UTC)
    from ccapki.cli.common import load_deployment_arg

    if not identities and not due:
        raise InputError(
            "nothing to renew: name identities or pass --due",
            "`ccapki renew --due` shows what is inside its renewal window (add --commit to "
            "renew it); `ccapki renew NAME` renews NAME even when it is not due",
        )
    from ccapki.fsutil import STDOUT

    to_stdout = commit and out == STDOUT
    if to_stdout and as_json:
        raise InputError(
            "--json and --out - would both write to standard output",
            "drop --json, or write the CSRs to a folder: `--out DIR`",
        )
    if commit:
        env.refuse_what_if("renew --commit")
    dep, _ = load_deployment_arg(env, None)
    now = env.now()
    written: list[str] = []
    again: list[Handed] = []  # CSRs a stopped run kept but never wrote, written now
    acme_code = 0
    new_roots: list[str] = []  # the roots clients need that they did not before
    with env.open_store() as store:
        if not commit:
            plan = api.plan_renewal(store, dep, now=now, names=identities, due=due)
            result = None
        else:
            from ccapki.fsutil import check_output_folder
            from ccapki.lifecycle.csrdelivery import CsrHandover
            from ccapki.lifecycle.renew import commit_renewal

            plan = api.plan_renewal(store, dep, now=now, names=identities, due=due, started=started)
            if not to_stdout and (plan.undelivered or any(i.action == "csr" for i in plan.items)):
                check_output_folder(out)
            # each CSR file is staged before the store commits its key and takes its name
            # after: a run killed in between leaves no CSR whose key is lost (the next run
            # writes the CSR the store kept: plan.undelivered)
            handover = CsrHandover(store, dep.name, out)

            def deliver(c: CsrMade) -> None:
                handover.stage(c.identity, c.spki, c.pem)

            roots_before = _client_root_fingerprints(store)
            try:
                # the lifecycle's: its deliver stages inside the transaction (the API's
                # deliver runs after the commit)
                result = commit_renewal(store, dep, plan, now=now, deliver=deliver)
            except BaseException:
                handover.discard()
                raise
            env.work_done()  # committed: a late Ctrl-C no longer makes this an error
            for h in handover.place(plan.undelivered):
                if h.again is None:
                    written.append(h.path)
                else:
                    again.append(h)
            acme_code = _order_acme(env, store, dep, plan, err=to_stdout or as_json)
            new_roots = _new_client_roots(store, roots_before)
    lab = lab_runs(env) if commit else False
    if result is not None and result.csrs:
        # a public CA refuses a private address in a CSR: said as `ccapki csr` says it
        from ccapki.topology.plan import csr_private_ips_warning

        private = csr_private_ips_warning([dep.identity(c.identity) for c in result.csrs])
        if private:
            click.echo(f"warning: {private}", err=True)
    if as_json:
        from ccapki.cli.output import print_json

        data: dict[str, object] = {"dry_run": not commit, **plan.to_dict()}
        if result is not None:
            data["result"] = result.to_dict()
            data["csr_files"] = written + [h.path for h in again]
            data["csr_files_again"] = [
                {"identity": h.identity, "path": h.path, "spki": h.spki} for h in again
            ]
            data["next"] = _next(lab, result, new_roots, again=bool(again))
        print_json(data)
        return 0
    _render_plan(plan, commit, err=to_stdout)
    if result is not None:
        _render_result(result, written, lab, env, new_roots, again, err=to_stdout)
    elif not plan.empty:
        click.echo(DRY_RUN)
    return acme_code


def _order_acme(env: Env, store: Store, dep: Deployment, plan: RenewalPlan, *, err: bool) -> int:
    """Order the plan's ACME identities (skipped by the CSR path) through ACME, the same
    path as ``ccapki acme order``. Returns the exit code of the orders (0: none or all
    stored, 2: any failed)."""
    from ccapki.lifecycle.acme import renewal_orders

    names = renewal_orders(plan)
    if not names:
        return 0
    from ccapki.cli.acme import print_outcomes, trust_note
    from ccapki.lifecycle.acme import order_renewals

    # an identity another run orders (or ordered after this run began) is ordered once
    done = order_renewals(
        store, dep, plan, report=lambda line: click.echo(f"note: {line}", err=err)
    )
    code = print_outcomes(done.outcomes, env.store_where, err=err)
    for other in done.elsewhere:
        click.echo(other.message(anything_renewed=bool(done.outcomes)), err=err)
    trust_note(store, dep, done.outcomes, err=err)
    return code


def lab_runs(env: Env) -> bool:
    """Whether a lab serves this store (then `lab reload` installs the renewals)."""
    folder = env.home / "lab"
    if not folder.is_dir():  # no lab was ever started here (the lab's code: ~0.1 s to load)
        return False
    from ccapki.lab.daemon import read_state

    state = read_state(folder)
    return state is not None and state.alive


def _render_plan(plan: RenewalPlan, commit: bool, *, err: bool = False) -> None:
    from ccapki.cli.output import plural
    from ccapki.lifecycle.renew import ACME_SKIP, UNWRITTEN_SKIP

    acme = [s for s in plan.skipped if s.reason == ACME_SKIP]
    said = False  # a line above names an identity (skipped, or its CSR written now)
    for s in plan.skipped:
        if commit and s.reason == ACME_SKIP:
            continue  # ordered through ACME above (`ordered ...` or `error:`), not skipped
        if commit and s.reason.startswith(UNWRITTEN_SKIP):
            said = True  # its `wrote ...` line follows
            continue  # written now: its `wrote ...` line says so
        hint = f"`renew --commit` orders it, or {s.hint}" if s.reason == ACME_SKIP else s.hint
        click.echo(f"skipped {s.identity}: {s.reason} ({hint})", err=err)
        said = True
    if plan.empty and commit and acme:
        return  # the ACME orders were the renewal: their lines say what was done
    if plan.empty:
        when = f"{plan.now:%Y-%m-%d %H:%M} UTC"
        # after a skipped line (one whose step the line names), "nothing to renew" would
        # deny it: nothing else is
        nothing = "nothing else to renew" if said else "nothing to renew"
        msg = f"{nothing} in {plan.deployment} on {when}"
        if plan.next_due is not None:
            name, at = plan.next_due
            msg += f"; the next renewal window opens for {name} on {at:%Y-%m-%d}"
        click.echo(msg, err=err)
        return
    count = plural(len(plan.items), "identity", "identities")
    doing = "renewing" if commit else "would renew"
    click.echo(
        f"{plan.deployment} on {plan.now:%Y-%m-%d}: {doing} {count} "
        f"(key policy: {plan.key_policy.value}); the safe order:",
        err=err,
    )
    for step in plan.steps:
        click.echo(f"  {step.order}. {step.text}", err=err)


def _client_root_fingerprints(store: Store) -> set[str]:
    """The roots clients must install (not in the common OS stores), by fingerprint."""
    from ccapki.lifecycle.certfiles import client_roots
    from ccapki.pki.certs import fingerprint

    return {fingerprint(r.certificate) for r in client_roots(store) if not r.public}


def _new_client_roots(store: Store, before: set[str]) -> list[str]:
    """The roots clients must install that they did not need before the renewal (a new
    root CA, a renewed self-signed certificate), in words."""
    from ccapki.lifecycle.certfiles import client_roots
    from ccapki.pki.certs import fingerprint

    return client_root_words(
        r for r in client_roots(store) if not r.public and fingerprint(r.certificate) not in before
    )


#: how :func:`client_root_words` begins the entry counting many self-signed identities
_MANY_OWN = "the own certificates of "


def client_root_words(roots: Iterable[ClientRoot], *, most: int | None = None) -> list[str]:
    """Each of ``roots`` (roots clients must install) in words, in their order: a root
    CA's name, or "NAME's own certificate" for a true self-signed identity; more than
    ``most`` such identities are counted in one last entry instead (None: each is named)."""
    from ccapki.pki.certs import display_name

    words = [
        (r.self_signed_leaf, f"{', '.join(r.identities)}'s own certificate")
        if r.self_signed_leaf
        else (False, display_name(r.certificate))
        for r in roots
    ]
    own = sum(1 for leaf, _ in words if leaf)
    if most is not None and own > most:
        return [w for leaf, w in words if not leaf] + [
            f"{_MANY_OWN}{own} identities (true self-signed)"
        ]
    return [w for _, w in words]


def _next(
    lab: bool, result: RenewalResult, new_roots: Sequence[str] = (), *, again: bool = False
) -> list[str]:
    return install_order(
        lab,
        issued=bool(result.renewed),
        csrs=bool(result.csrs) or again,
        retire=bool(result.retire),
        new_roots=new_roots,
        trust_additions=bool(result.trust_added),
    )


def install_order(
    lab: bool,
    *,
    issued: bool,
    csrs: bool = False,
    retire: bool = False,
    new_roots: Sequence[str] = (),
    done: str = "renewed",
    trust_additions: bool = True,
) -> list[str]:
    """The next steps after new certificates were stored, in the order that breaks
    nothing (each printed as ``next: ...``): the roots clients need first (``new_roots``,
    in words), then installing what was ``issued`` (``lab``: a running lab reloads it)
    and proving it, sending the ``csrs`` made, retiring an old issuer (``retire``).
    ``done`` is how the new certificates are called ("renewed", "issued");
    ``trust_additions``: whether trust stores gained entries to install first (False: the
    step names only the identities, as nothing was added)."""
    out = []
    if new_roots:
        many = len(new_roots) > 1 or new_roots[0].startswith(_MANY_OWN)
        out.append(
            "clients (agents, web-login and admin-GUI browsers) need "
            f"{'; '.join(new_roots)} in their trusted roots before the appliances present "
            f"the {done} certificates: `ccapki export-roots --out DIR` writes "
            f"{'them' if many else 'it'} (keep the old ones there until then)"
        )
    if issued:
        if lab:
            out.append(f"`ccapki lab reload` (the lab serves the {done} certificates)")
        else:
            first = "trust-store additions first, then " if trust_additions else ""
            out.append(
                f"install on the appliances: {first}each {done} "
                "identity (`ccapki export NAME`; both peers of an HA pair at once)"
            )
        out.append("`ccapki verify --live` proves what the appliances serve")
    if csrs:
        out.append(
            "send each CSR to its CA and `ccapki import` the certificate it returns (the "
            "current certificate stays current until then)"
        )
    if retire:
        out.append(
            "once every appliance serves the new certificates: `ccapki trust apply --prune` "
            "retires the old issuer"
        )
    return out


def _render_result(
    result: RenewalResult,
    written: list[str],
    lab: bool,
    env: Env,
    new_roots: Sequence[str] = (),
    again: Sequence[Handed] = (),
    *,
    err: bool = False,
) -> None:
    for ca in result.created_cas:
        click.echo(f"created CA {ca}", err=err)
    for change in result.trust_added:
        text = "added " + change.removeprefix("add ") if change.startswith("add ") else change
        click.echo(text, err=err)
    for r in result.renewed:
        key = "same key" if r.same_key else "new key"
        click.echo(
            f"renewed {r.identity} v{r.version} (was v{r.previous_version}; expires "
            f"{r.not_after:%Y-%m-%d}; {key}; from {r.issuer}) in {env.store_where}",
            err=err,
        )
    for c, path in zip(result.csrs, written, strict=False):
        key = f"key {c.spki[:16]} sealed, pending" if c.pending else "signed with the current key"
        click.echo(f"wrote {path} for {c.identity} ({key})", err=err)
    for h in again:
        assert h.again is not None
        made = h.again.record.created_at
        click.echo(
            f"wrote {h.path} for {h.identity}: the CSR a renewal made on {made:%Y-%m-%d %H:%M} "
            f"UTC and kept (key {h.spki[:16]} sealed, pending), whose run was stopped before "
            "it finished; the same CSR and key, no new one",
            err=err,
        )
    anything = bool(result.renewed or result.csrs)
    for other in result.renewed_elsewhere:
        click.echo(other.message(anything_renewed=anything), err=err)
    for step in _next(lab, result, new_roots, again=bool(again)):
        click.echo(f"next: {step}", err=err)
