"""``ccapki apply``: issue every identity the plan names."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import click

from ccapki.cli.app import Env, pass_env
from ccapki.errors import InputError, Interrupted

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from ccapki.lifecycle.apply import ApplyResult, Progress, Unsaid
    from ccapki.store.records import StoredIdentity
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment
    from ccapki.topology.plan import Action

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
            f"{'them' if len(gone) > 1 else 'it'}; what the trust stores still hold for "
            f"{'them' if len(gone) > 1 else 'it'} stays trusted until `ccapki trust apply "
            "--prune` (`ccapki trust plan` says what)"
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
  ccapki apply campus.toml --no-acme         all but the ACME orders (said what to run)

Without FILE: the deployment file the store last applied, as it was then (a note says
when it was edited on disk since: give FILE to apply the edit).

Certificates adopted with `ccapki import --file FILE` (taken with their keys from where
they are in service) that fit the plan are kept, and said so: "kept: cas1 (adopted
certificate, fits the plan)"; `ccapki plan FILE` says it too (--json: kept_adopted).

Identities with source = "acme" that are due (no certificate yet, names changed, renewal
window, revoked) are ordered from the ACME CA after the rest is committed, as `ccapki acme
order` does (docs/acme.md), and the trust stores they need are updated. --dry-run never
asks the CA anything.

\b
EXIT CODES
  0 done   2 bad input (deployment file, passphrase, store), or an ACME order failed
          (error: and hint:; what was issued and the other orders are kept)
  130/143 interrupted (Ctrl-C / SIGTERM): the identities issued so far are kept
          (each whole, with its key); run the command again to finish
"""
)
@click.argument("file", required=False, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--no-acme",
    is_flag=True,
    help='Do not order source = "acme" identities (say what to run instead).',
)
@click.option(
    "--new-deployment",
    is_flag=True,
    help="Apply a file whose [deployment] name the store does not hold though another "
    "deployment plans the same appliances (a second, separate PKI for them).",
)
@pass_env
def apply(
    env: Env, file: str | None, dry_run: bool, as_json: bool, no_acme: bool, new_deployment: bool
) -> int:
    """Issue (or renew, or reissue) what the plan needs, from each identity's source."""
    from ccapki import api
    from ccapki._util import gc_paused
    from ccapki.cli.common import load_deployment_arg
    from ccapki.cli.output import adopted_kept

    if not dry_run:
        env.refuse_what_if("apply")
        if file:
            said = _unchanged(env, file, as_json)
            if said is not None:
                return said
    dep, path = load_deployment_arg(env, file)
    show = not dry_run and not as_json and sys.stderr.isatty()
    # the collector paused for the command: thousands of identities read and said make
    # lasting objects and no cycle (rescanned over and over, a third of a bulk apply)
    with gc_paused(), env.open_store() as store:
        if file is None:  # the file as applied: say so when it was edited since
            from ccapki.cli.unapplied import edited_since_applied

            edited = edited_since_applied(store, "apply")
            if edited:
                click.echo(edited, err=True)
        held = store.deployments.names()  # a new name is a new deployment, beside these
        if dep.name not in held and held and not new_deployment:
            _refuse_namesake(store, dep, path or file or "the file", dry_run=dry_run)
        was_release = _applied_release(store, dep.name)  # before this apply records the file
        # interrupted, its hint says how many identities were kept (see apply_plan)
        report: dict[str, object] = {}
        try:
            with _progress_bar(show) as progress:
                result = api.apply(
                    store, dep, env.now(), dry_run=dry_run, path=path, progress=progress,
                    report=report,
                )  # fmt: skip
        except Interrupted as exc:
            _say_kept(exc, report)
            if not as_json:
                _echo_kept(report)
            raise
        if not dry_run:
            env.work_done()  # committed: a late Ctrl-C no longer makes this an error
        result = _with_pending_csrs(store, dep, result, env.now())
        # the versions of what was issued, for the lines below (none: nothing to read)
        current: Mapping[str, StoredIdentity] = {}
        if result.issued:  # held by apply in memory (a bulk apply: none read back)
            current = result.stored if result.stored is not None else store.identities.current()
        acme = _acme_due(store, dep, env, dry_run=dry_run, no_acme=no_acme)
        # CAs an interrupted apply created, which no finished apply has said to clients
        from ccapki.lifecycle.apply import roots_said, roots_unsaid

        unsaid = None if dry_run else roots_unsaid(store, dep.name)
        steps = (
            _install_order(env, store, dep, result, current, unsaid)
            if result.issued or unsaid
            else []
        )
        if unsaid or (result.created_cas and not dry_run):
            roots_said(store, dep.name)
        kept = [n for n in adopted_kept(store, dep.name, result.actions) if n not in acme]
        refused = _validity_refused(dep, result)  # said first: clients will refuse them
        code = _say(
            env,
            result,
            dep.name,
            held,
            dry_run=dry_run,
            as_json=as_json,
            current=current,
            acme=acme,
            steps=steps,
            kept=kept,
            refused=refused,
        )
        if not as_json and dep.profile.dn_authorization:
            dns_said = _say_new_dns(store, dep, result, dry_run=dry_run)
            _say_dn_authorization_new(store, dep, was_release, dns_said)
        if acme and not dry_run:
            code = max(code, _order_acme(env, store, dep, path, acme, as_json=as_json))
        if not as_json:
            for step in steps:  # as `renew --commit` says it, once the rest is said
                click.echo(f"next: {step}")
    return code


def _refuse_namesake(store: Store, dep: Deployment, file: str, *, dry_run: bool) -> None:
    """Refuse (say, with --dry-run) a file of a new deployment name whose appliances
    another deployment of the store plans: its name was changed, most likely, and applying
    it would make a second PKI for the same appliances (new CAs of the same names)."""
    from ccapki.lifecycle.namesakes import same_appliances, same_appliances_words

    found = same_appliances(store, dep)
    if not found:
        return
    first = found[0]
    words = same_appliances_words(file, dep, first)
    hint = (
        f'a deployment\'s name is its key in the store: put `name = "{first.deployment}"` back '
        f"under [deployment] in {file}; for a separate PKI for the same appliances on purpose, "
        "add --new-deployment"
    )
    if dry_run:
        click.echo(f"warning: {words}\nhint: {hint}", err=True)
        return
    raise InputError(words, hint)


def _with_pending_csrs(
    store: Store, dep: Deployment, result: ApplyResult, now: dt.datetime
) -> ApplyResult:
    """``result`` with the actions of third-party identities whose CSR is pending decided
    again from what the CSR asks for (a CSR made for an older version of the file is
    stale: make a new one), as ``plan`` decides them."""
    import dataclasses

    from ccapki.lifecycle.certfiles import revise_for_pending_csrs
    from ccapki.topology.model import Source
    from ccapki.topology.plan import make_plan

    if not any(i.source is Source.THIRD_PARTY for i in dep.identities):
        return result  # no CSR of the file's to decide again (nor a plan to make for it)
    actions = revise_for_pending_csrs(store, make_plan(dep), result.actions, now)
    return result if actions == result.actions else dataclasses.replace(result, actions=actions)


#: more true self-signed identities than this are counted, not named, in the install order
_MOST_NAMED = 5


def _install_order(
    env: Env,
    store: Store,
    dep: Deployment,
    result: ApplyResult,
    current: Mapping[str, StoredIdentity],
    unsaid: Unsaid | None = None,
) -> list[str]:
    """What to do with the certificates apply issued, in the order that breaks nothing,
    as ``renew --commit`` says it: the roots clients need that are new (a CA apply created,
    or an interrupted apply created, ``unsaid``; an issued true self-signed certificate),
    then installing and proving them (``current``: the store's identities now)."""
    from ccapki.cli.renew import client_root_words, install_order, lab_runs
    from ccapki.lifecycle.certfiles import client_roots
    from ccapki.pki.certs import display_name

    created = set(result.created_cas)
    with store.scoped(dep.name):
        # CAs this run did not create (an interrupted run did): they and what was issued
        # since they were made (the interrupted run's too); a run that created them all
        # (the usual first apply) reads nothing more
        if unsaid and unsaid.cas - created:
            created |= unsaid.cas
            held = store.identities.current()
            since = {n for n, i in held.items() if unsaid.since and i.created_at >= unsaid.since}
            roots = [
                r
                for r in client_roots(store, held, current=held)
                if not r.public
                and (
                    display_name(r.certificate) in created
                    or (r.self_signed_leaf and not since.isdisjoint(r.identities))
                )
            ]
        else:
            roots = [
                r
                for r in client_roots(store, result.issued, current=current)
                if not r.public and (r.self_signed_leaf or display_name(r.certificate) in created)
            ]
    return install_order(
        lab_runs(env),
        issued=True,
        new_roots=client_root_words(roots, most=_MOST_NAMED),
        done="issued",
        trust_additions=bool(result.trust_added),
    )


def _applied_release(store: Store, name: str) -> str | None:
    """The release of deployment ``name``'s file as the store last applied it; None when
    none was applied (or its stored file no longer reads: nothing to compare)."""
    from ccapki.errors import CcapkiError
    from ccapki.lifecycle.status import read_settings

    with store.scoped(name):
        kept = store.deployments.latest()
    if kept is None:
        return None
    try:
        return read_settings(kept.text, facts=kept.facts).release
    except CcapkiError:
        return None


#: more CAS than this needing a DN allowed on the CAM are counted, not listed, by apply
_MOST_DNS = 10


def _say_dn_authorization_new(
    store: Store, dep: Deployment, was_release: str | None, said: Sequence[str]
) -> None:
    """The file moves the deployment from a release without CAM-CAS DN authorization
    (before 4.9) to one with it: every CAS already holding a certificate (those
    :func:`_say_new_dns` did not name, ``said``) must now be allowed by its DN on the CAM,
    or its CAM-CAS link goes down once the CAM runs the new release. Says nothing when the
    store applied no file before, or the release it applied already authorized by DN."""
    from ccapki.errors import CcapkiError
    from ccapki.topology.releases import parse_release, profile_for

    if was_release is None:
        return
    try:
        if profile_for(parse_release(was_release)).dn_authorization:
            return
    except CcapkiError:
        return
    held = set(store.identities.current())
    waiting = [s.name for s in dep.cas if s.name in held and s.name not in said]
    if not waiting:
        return
    if len(waiting) > 1:
        which = f"{len(waiting)} CAS ({_first_names(waiting)})"
    else:
        which = f"CAS {waiting[0]}"
    click.echo(
        f"next: CCA {dep.release} authorizes each CAS on the CAM by its certificate's subject "
        f"DN, which {was_release} did not: allow the DN of {which} on the CAM before it runs "
        f"{dep.release}, or their CAM-CAS links go down (`ccapki trust plan` lists each DN)"
    )


def _first_names(names: Sequence[str], most: int = 3) -> str:
    """``names`` joined, the first ``most`` of them and how many more."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} +{len(names) - most}"


def _say_new_dns(store: Store, dep: Deployment, result: ApplyResult, *, dry_run: bool) -> list[str]:
    """CCA 4.9+ (CAM-CAS DN authorization): for each CAS whose new certificate names
    another subject DN than the one it has (a hostname changed, a new CAS), the CAM must
    allow the new DN before the CAS presents it, or the CAM-CAS link goes down. More than
    :data:`_MOST_DNS` of them are said in one line (``ccapki trust plan`` lists each).
    Returns the identities said."""
    from ccapki.cli.trust import dn_pair_note
    from ccapki.topology.model import Role
    from ccapki.topology.plan import ActionKind, make_plan

    issuing = (ActionKind.ISSUE, ActionKind.REISSUE, ActionKind.RENEW)
    plan = make_plan(dep) if dry_run else None
    cas = [
        a.identity
        for a in result.actions
        if a.kind in issuing and dep.identity(a.identity).role is Role.CAS
    ]
    # (the DN before, the new one) of each CAS whose DN changes, as RFC 4514 text
    changed: dict[str, tuple[str | None, str]] = {}
    if plan is not None:
        for name in cas:
            was = store.identities.get(name)
            new = plan.get(name).request.subject.rfc4514_string()
            old = was.certificate.subject.rfc4514_string() if was else None
            if old != new:
                changed[name] = (old, new)
    else:  # what apply issued, from the store's columns (thousands: one query a batch)
        issued = set(result.issued)
        subjects = store.identities.subject_changes([n for n in cas if n in issued])
        changed = {n: (old, new) for n, (old, new) in subjects.items() if old != new}
        changed = {n: changed[n] for n in cas if n in changed}  # in the order of the plan
    if len(changed) > _MOST_DNS:
        click.echo(
            f"next: allow {len(changed)} CAS ({_first_names(list(changed))}) by DN on the CAM "
            f"({dep.release} authorization), each before it presents its new certificate: "
            "`ccapki trust plan` lists each DN"
        )
        return list(changed)
    for name, (old, new) in changed.items():
        spec = dep.identity(name)
        after = f"; {old} is no longer needed once it does" if old is not None else ""
        pair = f" {dn_pair_note(spec)}" if spec.ha else ""  # one entry for both peers
        click.echo(
            f"next: allow CAS {spec.primary.name} by DN on the "
            f"CAM ({dep.release} authorization): {new}{pair}, before "
            f"{spec.name} presents its new certificate{after}"
        )
    return list(changed)


def _echo_kept(report: Mapping[str, object]) -> None:
    """On standard output, what an interrupted apply kept: the CAs it made and each
    identity it committed (the hint counts them; these lines name them)."""
    created, kept = report.get("created"), report.get("kept")
    for ca in created if isinstance(created, list) else ():
        click.echo(f"created CA {ca} (kept)")
    for name in kept if isinstance(kept, list) else ():
        click.echo(f"issued {name} (kept)")


def _say_kept(exc: Interrupted, report: Mapping[str, object]) -> None:
    """A signal that reached apply after its last commit, on its way out (outside the
    handler that counts what was kept): the hint still says how many identities were kept,
    not "nothing is half-written" (a kill test caught it once in 1,500 identities)."""
    kept, total = report.get("kept"), report.get("total")
    if (
        isinstance(kept, list)
        and isinstance(total, int)
        and total
        and "identities were kept" not in (exc.hint or "")
    ):
        exc.hint = f"{len(kept)} of {total} identities were kept; run the command again to finish"


def _acme_due(
    store: Store, dep: Deployment, env: Env, *, dry_run: bool, no_acme: bool
) -> list[str]:
    """The ACME identities apply orders (none with ``--no-acme`` or without ``[acme]``)."""
    if no_acme or dep.acme is None or not any(i.acme for i in dep.identities):
        return []
    from ccapki.lifecycle.acme import due_identities

    if dry_run and dep.name not in store.deployments.names():
        return [i.name for i in dep.identities if i.acme]  # a first apply: every one
    with store.scoped(dep.name):
        return due_identities(store, dep, env.now())


def _order_acme(
    env: Env, store: Store, dep: Deployment, path: str | None, names: list[str], *, as_json: bool
) -> int:
    """Order ``names`` as ``ccapki acme order`` does (its notes and lines; standard error
    with ``--json``), then apply again so the trust stores hold what the new certificates
    need. Returns 0 (every order stored) or 2 (any failed: its ``error:``/``hint:``)."""
    from ccapki import api
    from ccapki.cli.acme import print_outcomes
    from ccapki.errors import CcapkiError
    from ccapki.lifecycle.acme import order_identities

    try:
        outcomes = order_identities(
            store, dep, names, report=lambda line: click.echo(f"note: {line}", err=as_json)
        )
    except CcapkiError as exc:
        raise type(exc)(
            exc.message,
            f"{exc.hint} (the rest of the apply is done; `ccapki apply --no-acme` leaves "
            "the ACME orders out)",
        ) from None
    code = print_outcomes(outcomes, env.store_where, err=as_json)
    if any(o.ok for o in outcomes):
        again = api.apply(store, dep, env.now(), path=path)  # the trust the new ones need
        for change in again.trust_added:
            click.echo(_done(change), err=as_json)
    return code


#: ``name = "..."`` of the ``[deployment]`` table (what :func:`_unchanged` looks up by)
_HEADER_RE = re.compile(r"^[ \t]*\[[ \t]*deployment[ \t]*\][ \t]*(?:#.*)?$", re.M)
_NEXT_TABLE_RE = re.compile(r"^[ \t]*\[", re.M)
_NAME_RE = re.compile(r'^[ \t]*name[ \t]*=[ \t]*"([^"\\\n]*)"', re.M)


def _unchanged(env: Env, file: str, as_json: bool) -> int | None:
    """``apply FILE`` when the store remembers applying this very text with nothing to do
    (:func:`~ccapki.lifecycle.apply.remembered_nothing_to_do`): said as apply says it,
    without parsing the file (it parsed when it was remembered; a large file takes longer
    to parse than the rest of the command). None when it is not so: apply as ever (which
    reads the file again and says what is wrong with it, if anything)."""
    from ccapki.errors import CcapkiError
    from ccapki.fsutil import read_input_file
    from ccapki.lifecycle.apply import remembered_nothing_to_do

    try:
        text = read_input_file(file, limit=4 * 1024 * 1024).decode("utf-8")
    except (CcapkiError, UnicodeDecodeError):
        return None
    header = _HEADER_RE.search(text)
    if header is None:
        return None
    end = _NEXT_TABLE_RE.search(text, header.end())
    found = _NAME_RE.search(text, header.end(), end.start() if end else len(text))
    if found is None:
        return None
    name = found.group(1)  # the digest below proves it: the text parsed with this name
    if env.deployment_option not in (None, name) and not env.deployment_from_env:
        return None  # apply as ever: it says which deployment the file names
    env.act_on(name, source=file)
    with env.open_store() as store:
        result = remembered_nothing_to_do(store, name, text, env.now())
        if result is None:
            return None
        if store.csrs.pending():  # said from what each CSR asks for: the file is read
            return None
        store.unlock()  # a wrong passphrase fails, as in any apply
        held = store.deployments.names()
        from ccapki.cli.output import adopted_kept

        kept = adopted_kept(store, name, result.actions)
        env.work_done()  # nothing to write: as after a committed apply
    return _say(env, result, name, held, dry_run=False, as_json=as_json, current={}, kept=kept)


def _validity_refused(dep: Deployment, result: ApplyResult) -> list[str]:
    """The plan's warnings of validity for the identities apply issues now (or would:
    --dry-run): longer than clients accept (:func:`~ccapki.topology.plan.validity_warning`),
    or as short as the release's temporary certificate by default
    (:func:`~ccapki.topology.plan.short_default_warning`)."""
    from ccapki.topology.plan import (
        ActionKind,
        make_plan,
        short_default_warning,
        validity_warning,
    )

    issuing = (ActionKind.ISSUE, ActionKind.REISSUE, ActionKind.RENEW)
    due = {a.identity for a in result.actions if a.kind in issuing}
    if not due:
        return []
    issued = [p for p in make_plan(dep).identities if p.name in due]
    said = (validity_warning(dep, issued), short_default_warning(dep, issued))
    return [w for w in said if w]


def _step(a: Action) -> str:
    """A ``csr`` or ``await-ca`` action as what the administrator does next, in the words
    of ``ccapki plan`` (its reason, which for a CSR to make again says why after the step:
    "make a CSR (ccapki csr) and send it to the CA (expires in 20 days)")."""
    from ccapki.topology.plan import CSR_STEP, ActionKind

    if a.kind is ActionKind.CSR and not a.reason.startswith((CSR_STEP, "order it from")):
        return f"{CSR_STEP} ({a.reason})"
    return a.reason


def _why(a: Action) -> str:
    """Why apply reissued or renewed an identity, in the words ``--dry-run`` says it
    ("would reissue cas1: key type is not ecdsa-p256"): ``; reason: key type is not
    ecdsa-p256``. Nothing for a first issue (its reason, "no certificate yet", is what
    "issued ... v1" says)."""
    from ccapki.topology.plan import ActionKind

    if a.kind not in (ActionKind.REISSUE, ActionKind.RENEW) or not a.reason:
        return ""
    return f"; reason: {a.reason}"


def _say(
    env: Env,
    result: ApplyResult,
    name: str,
    held: list[str],
    *,
    dry_run: bool,
    as_json: bool,
    current: Mapping[str, StoredIdentity],
    acme: list[str] | None = None,
    steps: Sequence[str] = (),
    kept: Sequence[str] = (),
    refused: Sequence[str] = (),
) -> int:
    """Print what apply did (``current``: the store's identities, for those it issued;
    ``acme``: the ACME identities it orders next, or would order; ``steps``: what to do
    next with what it issued, in the JSON: the text says it last; ``kept``: the adopted
    certificates kept as they fit the plan, :func:`~ccapki.cli.output.adopted_kept`)."""
    from ccapki.topology.plan import ActionKind

    ordering = set(acme or ())

    warnings = [*refused, *_warnings(result, name)]  # ``refused``: _validity_refused
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "dry_run": dry_run,
                "issued": list(result.issued),
                # what the text says of each: its version, expiry and fingerprint
                "certificates": [
                    {
                        "identity": n,
                        "version": current[n].version,
                        "not_after": current[n].not_after.isoformat(),
                        "fingerprint": current[n].fingerprint,
                    }
                    for n in result.issued
                    if n in current
                ],
                "created_cas": list(result.created_cas),
                "trust_added": list(result.trust_added),
                "not_in_file": list(result.not_in_file),
                "renamed_from": result.renamed_from,
                "deployment": name,
                "new_deployment": name not in held,
                "issued_elsewhere": list(result.issued_elsewhere),
                # adopted (`ccapki import [--file FILE]`) and fitting the plan: kept
                "kept_adopted": list(kept),
                "warnings": warnings,
                "actions": [
                    {"identity": a.identity, "action": a.kind.value, "reason": a.reason}
                    for a in result.actions
                ],
                "next": list(steps),
            }
        )
        return 0
    others = [n for n in held if n != name]
    if name not in held and others:
        click.echo(
            f"{'would be a ' if dry_run else ''}new deployment {name} in this store, beside "
            f"{', '.join(others)} (each keeps its own identities, CAs and trust stores; "
            "commands without a deployment file now need --deployment NAME)"
        )
    for ca in result.created_cas:
        click.echo(f"would create {ca}" if dry_run else f"created CA {ca}")
    issued, elsewhere = set(result.issued), set(result.issued_elsewhere)
    where = env.store_where if issued else ""  # (worded once, not once per identity)
    if len(elsewhere) > _MOST_NAMED:  # one line for them all, not one each (thousands)
        shown = sorted(elsewhere)
        click.echo(
            f"{len(shown)} identities were issued meanwhile by another ccapki, kept as they "
            f"are ({', '.join(shown[:_MOST_NAMED])} +{len(shown) - _MOST_NAMED} more)"
        )
    for a in result.actions:
        if a.kind is ActionKind.NOTHING:
            continue
        if a.identity in ordering:
            if dry_run:
                click.echo(f"would order {a.identity} from the ACME CA (docs/acme.md)")
            continue  # ordered next: its own lines say how it went
        if a.kind in (ActionKind.CSR, ActionKind.AWAIT_CA):
            # the administrator's step (apply makes no CSR): said alike with --dry-run
            click.echo(f"{a.identity}: {_step(a)}")
        elif dry_run:
            click.echo(f"would {a.kind.value} {a.identity}: {a.reason}")
        elif a.identity in elsewhere:
            if len(elsewhere) <= _MOST_NAMED:
                click.echo(f"{a.identity}: another ccapki issued it meanwhile (kept as it is)")
        elif a.identity in issued:
            ident = current[a.identity]
            click.echo(
                f"{_DONE[a.kind]} {a.identity} v{ident.version} "
                f"(expires {ident.not_after:%Y-%m-%d}) in {where}{_why(a)}"
            )
        else:
            click.echo(f"{a.identity}: {a.kind.value}: {a.reason}")
    for change in result.trust_added:  # done, so said as done: "added ..." ("add ..." is
        # what `trust plan` proposes); a dry run says what it would add
        click.echo(f"would {change}" if dry_run else _done(change))
    issuing = any(
        a.kind in (ActionKind.ISSUE, ActionKind.REISSUE, ActionKind.RENEW)
        and a.identity not in ordering
        for a in result.actions
    )
    if kept:  # taken with `ccapki import [--file FILE]`: kept, not issued again
        from ccapki.cli.output import kept_words

        click.echo(kept_words(kept))
    if dry_run and issuing:  # what they need in the trust stores follows from them
        click.echo(
            "would then add to each trust store what the new certificates need (the apply "
            "lists each entry; `ccapki trust plan` after it shows none left)"
        )
    if not ordering and not any(a.kind is not ActionKind.NOTHING for a in result.actions):
        if not result.trust_added:
            click.echo("nothing to do: every identity is issued and current")
        else:  # e.g. an apply interrupted after its last identity, before its trust stores
            n = len(result.trust_added)
            what = f"{n} trust-store {'entry' if n == 1 else 'entries'}"
            click.echo(
                f"every identity is issued and current; {what} "
                + ("to add" if dry_run else "added")
            )
    return 0
