"""``ccapki apply``: issue every identity the plan names, from its source, idempotently."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ccapki._util import gc_paused
from ccapki.errors import Interrupted, StoreBusy
from ccapki.pki.certs import display_name, fingerprint
from ccapki.pki.issue import (
    Issuer,
    fit_name,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store.records import (
    CertFacts,
    IdentityRecord,
    KeyState,
    StoredCA,
    StoredIdentity,
    certificate_facts,
)
from ccapki.store.session import Store
from ccapki.topology.model import Deployment, Source
from ccapki.topology.plan import (
    CA_KINDS,
    INTERNAL_CA,
    INTERNAL_ROOT,
    PERFIGO_ROOT,
    Action,
    ActionKind,
    CurrentIdentity,
    Plan,
    PlannedIdentity,
    make_plan,
    pending_actions,
    signer_for,
)

__all__ = [
    "CA_KINDS",
    "ApplyResult",
    "apply_plan",
    "current_state",
    "ensure_issuers",
    "signer_for",
]


ROOT_DAYS = 20 * 365 + 5
INTERMEDIATE_DAYS = 10 * 365 + 2
#: apply commits what it issued every this many identities, or every this many seconds
#: (whichever comes first): an interruption keeps every batch committed before it
BATCH_SIZE = 200
BATCH_SECONDS = 2.0
#: Told how far issuing is: (identities issued so far, identities to issue).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ApplyResult:
    actions: tuple[Action, ...]
    issued: tuple[str, ...]
    created_cas: tuple[str, ...]
    dry_run: bool
    trust_added: tuple[str, ...] = ()
    #: identities the store holds that the deployment file no longer names (kept as they are)
    not_in_file: tuple[str, ...] = ()
    #: the ``[deployment]`` name the store last applied, when the file gives another
    renamed_from: str | None = None
    #: identities another ccapki issued while this one was issuing them (its are kept)
    issued_elsewhere: tuple[str, ...] = ()


def _previous_name(store: Store) -> str | None:
    """The ``[deployment]`` name of the file the store last applied (None: none yet)."""
    import tomllib

    kept = store.deployments.latest()
    if kept is None:
        return None
    try:
        name = tomllib.loads(kept.text).get("deployment", {}).get("name")
    except (tomllib.TOMLDecodeError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def current_state(
    store: Store, identities: Mapping[str, StoredIdentity] | None = None
) -> dict[str, CurrentIdentity]:
    """What the store holds for each identity, as the plan compares it; ``identities``
    (``store.identities.current()``) when the caller has read them already."""
    pending = {k.identity for k in store.keys.list(state=KeyState.PENDING) if k.identity}
    if identities is None:
        identities = store.identities.current()
    out: dict[str, CurrentIdentity] = {}
    for name, ident in identities.items():
        out[name] = CurrentIdentity(ident.certificate, Source(ident.source), name in pending)
    for name in pending - set(out):
        out[name] = CurrentIdentity(None, None, True)
    return out


def ensure_issuers(
    store: Store, plan: Plan, now: dt.datetime, *, needed: set[str] | None = None
) -> tuple[dict[str, Issuer], list[str]]:
    """Load (or create, the first time) the CAs the plan's sources need."""
    dep = plan.deployment
    kinds = needed if needed is not None else {signer_for(p, dep) for p in plan.identities}
    issuers: dict[str, Issuer] = {}
    created: list[str] = []
    org = dep.organization or dep.name
    if PERFIGO_ROOT in kinds:
        issuer = store.cas.issuer(PERFIGO_ROOT)
        if issuer is None:
            key = generate_key(KeyType.RSA_2048)
            cert = make_root_ca(
                "Perfigo Root CA (emulated by ccapki)",
                key,
                now=now,
                days=ROOT_DAYS,
                organization="Perfigo Inc",
                path_length=0,
            )
            store.cas.add(display_name(cert), PERFIGO_ROOT, cert, key)
            issuer = Issuer(cert, key)
            created.append(display_name(cert))
        issuers[PERFIGO_ROOT] = issuer
    if INTERNAL_CA in kinds:
        root = store.cas.issuer(INTERNAL_ROOT)
        if root is None:
            rkey = generate_key(KeyType.ECDSA_P384)
            rcert = make_root_ca(
                fit_name(org, "Clean Access Root CA"),
                rkey,
                now=now,
                days=ROOT_DAYS,
                organization=org,
            )
            store.cas.add(display_name(rcert), INTERNAL_ROOT, rcert, rkey)
            root = Issuer(rcert, rkey)
            created.append(display_name(rcert))
        ca = store.cas.issuer(INTERNAL_CA)
        if ca is None:
            ikey = generate_key(KeyType.ECDSA_P256)
            icert = make_intermediate_ca(
                root,
                fit_name(org, "Clean Access Appliance CA"),
                ikey.public_key(),
                now=now,
                days=INTERMEDIATE_DAYS,
                organization=org,
            )
            store.cas.add(display_name(icert), INTERNAL_CA, icert, ikey)
            ca = Issuer(icert, ikey)
            created.append(display_name(icert))
        issuers[INTERNAL_ROOT] = root
        issuers[INTERNAL_CA] = ca
    return issuers, created


def issue_one(
    p: PlannedIdentity,
    signer: str,
    issuers: dict[str, Issuer],
    now: dt.datetime,
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
) -> IdentityRecord:
    """Issue ``p`` from ``signer`` ("self" or a CA kind of ``issuers``) on a new key, or on
    ``key`` (a renewal that keeps the identity's key: the record then carries no key, the
    store holds it already)."""
    kept = key
    if key is None:
        key = generate_key(p.spec.key_type)
    if signer == "self":
        cert = issue_identity(
            p.request, key.public_key(), now=now, days=p.validity_days, self_key=key
        )
    else:
        cert = issue_identity(
            p.request, key.public_key(), now=now, days=p.validity_days, issuer=issuers[signer]
        )
    chain = _chain_for(signer, issuers)
    return IdentityRecord(
        identity=p.name,
        key=key if kept is None else None,
        key_type=p.spec.key_type.value,
        certificate=cert,
        chain=chain,
        source=p.spec.source,
    )


#: Below this many identities, issuing stays in this process (a pool costs ~50 ms to start).
PARALLEL_MIN = 256
#: Issued in this process, identities come back (and are counted, and a progress callback
#: can stop the work) one at a time: an RSA-4096 key alone takes a good part of a second.
_SERIAL_CHUNK = 1
_FORK_ISSUERS: dict[str, Issuer] = {}


def _issue_chunk(
    args: tuple[list[tuple[PlannedIdentity, str]], dt.datetime],
) -> list[tuple[str, bytes, CertFacts]]:
    """Worker: issue a chunk; returns (identity, PKCS#8 key DER, certificate facts) each.

    The facts (PEM, fingerprints, names, dates) are what the store keeps; computing them
    here takes that work off the parent, which seals and persists.
    """
    from ccapki.pki.keys import private_key_der

    jobs, now = args
    out = []
    for p, signer in jobs:
        r = issue_one(p, signer, _FORK_ISSUERS, now)
        assert r.key is not None
        out.append((r.identity, private_key_der(r.key), certificate_facts(r.certificate)))
    return out


def _quiet_worker() -> None:
    """Start of a pool worker: Ctrl-C and SIGTERM are the parent's to handle.

    A Ctrl-C reaches the whole process group: workers ignore it and the parent stops them.
    The forked worker inherits the CLI's handler, which would raise in the worker: SIGTERM
    (how the pool stops its workers) goes back to the default, an immediate, silent exit.
    A worker also ends, silently, with its parent (``kill -9`` of apply): on Linux at once,
    elsewhere when it writes to the closed pipe (SIGPIPE, not a traceback).
    """
    import os
    import signal
    import sys

    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the pipe ends the worker
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(0)


def issue_many(
    jobs: list[tuple[PlannedIdentity, str]],
    issuers: dict[str, Issuer],
    now: dt.datetime,
    *,
    workers: int | None = None,
) -> list[IdentityRecord]:
    """Issue every job (see :func:`issue_batches`), as one list."""
    return [r for batch in issue_batches(jobs, issuers, now, workers=workers) for r in batch]


def issue_batches(
    jobs: list[tuple[PlannedIdentity, str]],
    issuers: dict[str, Issuer],
    now: dt.datetime,
    *,
    workers: int | None = None,
) -> Iterator[list[IdentityRecord]]:
    """Issue every job, yielding batches as they are done, so the caller can persist one
    batch while the next is being issued. In bulk, key generation and signing run on every
    core.

    Worker processes are forked, so they inherit the issuers in memory (no CA key is sent
    anywhere); each new key comes back once, over the pool's pipe, and is sealed here.
    Small batches, platforms without ``fork`` and threaded processes issue serially.
    """
    import os
    import threading

    cpus = workers or min(os.cpu_count() or 1, 8)
    import multiprocessing as mp

    if (
        len(jobs) < PARALLEL_MIN
        or cpus < 2
        or threading.active_count() > 1
        or "fork" not in mp.get_all_start_methods()
    ):
        for i in range(0, len(jobs), _SERIAL_CHUNK):
            yield [issue_one(p, s, issuers, now) for p, s in jobs[i : i + _SERIAL_CHUNK]]
        return
    global _FORK_ISSUERS
    _FORK_ISSUERS = issuers
    size = max(32, len(jobs) // (cpus * 8))
    chunks = [(jobs[i : i + size], now) for i in range(0, len(jobs), size)]
    by_name = {p.name: (p, s) for p, s in jobs}
    try:
        # leaving the block (done, error or interrupted) terminates the workers
        with mp.get_context("fork").Pool(cpus, initializer=_quiet_worker) as pool:
            for chunk in pool.imap(_issue_chunk, chunks):
                records: list[IdentityRecord] = []
                for name, key_der, facts in chunk:
                    p, signer = by_name[name]
                    records.append(
                        IdentityRecord(
                            identity=name,
                            key=None,
                            key_type=p.spec.key_type.value,
                            certificate=x509.load_pem_x509_certificate(facts.pem.encode()),
                            chain=_chain_for(signer, issuers),
                            source=p.spec.source,
                            key_der=key_der,
                            facts=facts,
                        )
                    )
                yield records
    finally:
        _FORK_ISSUERS = {}


def _chain_for(signer: str, issuers: dict[str, Issuer]) -> tuple[x509.Certificate, ...]:
    if signer == "self":
        return ()
    if signer == INTERNAL_CA:
        return (issuers[signer].certificate, issuers[INTERNAL_ROOT].certificate)
    return (issuers[signer].certificate,)


def apply_plan(
    store: Store,
    dep: Deployment,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    path: str | None = None,
    progress: Progress | None = None,
    report: dict[str, object] | None = None,
    roll_back: bool = False,
) -> ApplyResult:
    """Issue what the plan needs. Idempotent: nothing changes when nothing is due.

    Decided under the store's write lock, so writers at once never issue an identity
    twice; committed in batches (see :data:`BATCH_SIZE`), so an interruption keeps what was
    committed (each identity whole: its certificate with its key) and a second run issues
    the rest. ``progress`` is told after each issued chunk.

    With ``roll_back`` (a service job), interrupted before any identity was kept, it rolls
    back what it wrote before issuing (the new version of the deployment file and the CAs
    it created, unless another writer issued from them meanwhile): nothing of it stays
    (the CLI keeps them: a second run goes on with the same CAs). ``report``, when given, is filled
    (also when an error or interruption ends the apply) with ``deployment``, ``kept`` (the
    identities committed), ``total`` (those it meant to issue) and, after a rollback,
    ``rolled_back`` (``deployment``: the name whose file version was removed, or None;
    ``cas``: the CA names removed).
    """
    # reading every identity and issuing in bulk allocate many long-lived objects and no
    # reference cycles: pausing the cyclic GC saves its repeated scans of the growing heap
    # the deployment the file names is the one apply acts on (a new name: a new deployment)
    with gc_paused(), store.scoped(dep.name):
        return _apply_plan(
            store,
            dep,
            now,
            dry_run=dry_run,
            path=path,
            progress=progress,
            report=report,
            roll_back=roll_back,
        )


def _decide(
    store: Store, plan: Plan, now: dt.datetime
) -> tuple[dict[str, StoredIdentity], tuple[Action, ...], list[Action]]:
    """What the store holds, the plan's actions on it, and those apply carries out."""
    held = store.identities.current()
    actions = pending_actions(plan, current_state(store, held), now)
    todo = [
        a for a in actions if a.kind in (ActionKind.ISSUE, ActionKind.REISSUE, ActionKind.RENEW)
    ]
    return held, actions, todo


def _apply_plan(
    store: Store,
    dep: Deployment,
    now: dt.datetime,
    *,
    dry_run: bool,
    path: str | None,
    progress: Progress | None,
    report: dict[str, object] | None = None,
    roll_back: bool = False,
) -> ApplyResult:
    plan = make_plan(dep)
    named = {p.name for p in plan.identities}
    if dry_run:
        held, actions, _ = _decide(store, plan, now)
        previous = _previous_name(store)
        renamed = previous if previous is not None and previous != dep.name else None
        gone = tuple(sorted(n for n in held if n not in named))
        return ApplyResult(actions, (), (), True, (), gone, renamed)
    store.unlock()  # a wrong passphrase fails here, before anything is written
    # decided under the write lock: another writer's change is either seen here or waits
    with store.transaction():
        previous = _previous_name(store)
        held, actions, todo = _decide(store, plan, now)
        recorded = store.deployments.record(dep.name, dep.source_text, path)
        jobs = [(p, signer_for(p, dep)) for p in (plan.get(a.identity) for a in todo)]
        issuers, created = ensure_issuers(store, plan, now, needed={s for _, s in jobs})
        made = [c for c in store.cas.list() if c.name in created] if created else []
        # nothing to issue: the identities read above are current (read them once)
        trust_added = [] if jobs else fill_trust_stores(store, dep, held)
    renamed = previous if previous is not None and previous != dep.name else None
    gone = tuple(sorted(n for n in held if n not in named))
    kept: list[str] = []
    elsewhere: list[str] = []
    if report is not None:
        report.update(deployment=dep.name, kept=kept, total=len(jobs))
    if jobs:
        # what each identity's newest certificate was when apply decided to issue it
        seen = {
            a.identity: (held[a.identity].fingerprint if a.identity in held else None) for a in todo
        }
        try:
            _issue_in_batches(store, jobs, issuers, now, seen, kept, elsewhere, progress)
            with store.transaction():  # read again: another writer may have issued meanwhile
                trust_added = fill_trust_stores(store, dep)
        except (Interrupted, StoreBusy) as exc:
            finish = "run the command again to finish"
            if isinstance(exc, StoreBusy):
                finish = exc.hint
            undone = ""
            if roll_back and not kept and isinstance(exc, Interrupted):
                with contextlib.suppress(Exception):  # the store is away: nothing undone
                    file_gone, cas_gone = _roll_back(store, dep, recorded, made)
                    if report is not None and (file_gone or cas_gone):
                        report["rolled_back"] = {
                            "deployment": dep.name if file_gone else None,
                            "cas": cas_gone,
                        }
                    what = ([f"the deployment {dep.name}'s file"] if file_gone else []) + [
                        f"the CA {n}" for n in cas_gone
                    ]
                    if what:
                        undone = f" ({', '.join(what)} rolled back)"
            exc.hint = f"{len(kept)} of {len(jobs)} identities were kept{undone}; {finish}"
            raise
    return ApplyResult(
        actions,
        tuple(kept),
        tuple(created),
        False,
        tuple(trust_added),
        gone,
        renamed,
        tuple(elsewhere),
    )


def _roll_back(
    store: Store, dep: Deployment, recorded: bool, made: list[StoredCA]
) -> tuple[bool, list[str]]:
    """Undo what an apply that kept no identity wrote before issuing: the version of the
    deployment file it ``recorded`` and the CAs it ``made`` (not CAs shared with other
    deployments). Nothing is undone when the deployment holds an identity by now (another
    writer issued meanwhile, maybe from those CAs). Returns (the file version removed, the
    names of the CAs removed); raises what the store raises."""
    from sqlalchemy import delete, select

    from ccapki.store import schema as t
    from ccapki.store.records import SHARED_CAS

    own = [c for c in made if c.deployment != SHARED_CAS]
    if not (recorded or own):
        return False, []
    with store.transaction() as c:
        if store.identities.current():
            return False, []
        file_gone = False
        if recorded:
            newest = c.execute(
                select(t.deployments.c.id, t.deployments.c.source_text)
                .where(t.deployments.c.name == dep.name)
                .order_by(t.deployments.c.id.desc())
                .limit(1)
            ).first()
            if newest is not None and newest.source_text == dep.source_text:
                c.execute(delete(t.deployments).where(t.deployments.c.id == newest.id))
                file_gone = True
        for ca in own:
            c.execute(delete(t.cas).where(t.cas.c.fingerprint == ca.fingerprint))
            c.execute(
                delete(t.keys).where(
                    t.keys.c.fingerprint == ca.spki, t.keys.c.deployment == ca.deployment
                )
            )
        gone = [ca.name for ca in own]
        store.audit.record(
            "apply-rolled-back", dep.name, file=file_gone, cas=gone, reason="interrupted"
        )
    return file_gone, gone


def _landed(store: Store, records: list[IdentityRecord]) -> list[str]:
    """The identities of ``records`` whose newest version in the store is theirs."""
    if not records:
        return []
    newest = store.identities.newest_fingerprints([r.identity for r in records])
    return [
        r.identity
        for r in records
        if newest.get(r.identity)
        == (r.facts.fingerprint if r.facts else fingerprint(r.certificate))
    ]


def _issue_in_batches(
    store: Store,
    jobs: list[tuple[PlannedIdentity, str]],
    issuers: dict[str, Issuer],
    now: dt.datetime,
    seen: Mapping[str, str | None],
    kept: list[str],
    elsewhere: list[str],
    progress: Progress | None,
) -> None:
    """Issue ``jobs`` and commit them in batches; ``kept`` gets what was committed.

    Each batch is checked under the write lock: an identity whose newest certificate is no
    longer the one ``seen`` when apply decided (another ccapki issued it meanwhile) is left
    to that writer and noted in ``elsewhere``.
    """
    done = 0
    waiting: list[IdentityRecord] = []
    last = time.monotonic()

    def commit() -> None:
        nonlocal waiting, last
        fresh: list[IdentityRecord] = []
        try:
            with store.transaction():
                newest = store.identities.newest_fingerprints([r.identity for r in waiting])
                fresh = [r for r in waiting if newest.get(r.identity) == seen[r.identity]]
                store.identities.add(fresh)
        except BaseException:
            # a signal handled just after the database committed still interrupts: what
            # landed is counted from the store (if it can still be read)
            with contextlib.suppress(Exception):
                kept.extend(_landed(store, fresh))
            raise
        kept.extend(r.identity for r in fresh)
        elsewhere.extend(r.identity for r in waiting if newest.get(r.identity) != seen[r.identity])
        waiting, last = [], time.monotonic()

    if progress is not None:
        progress(0, len(jobs))  # what there is to do, before the first (slow) key
    for batch in issue_batches(jobs, issuers, now):  # committed while workers issue on
        waiting += batch
        done += len(batch)
        if progress is not None:
            progress(done, len(jobs))
        if len(waiting) >= BATCH_SIZE or time.monotonic() - last >= BATCH_SECONDS:
            commit()
    if waiting:
        commit()


def fill_trust_stores(
    store: Store, dep: Deployment, identities: Mapping[str, StoredIdentity] | None = None
) -> list[str]:
    """Add to each appliance's trust store what its channels need (never removes).
    ``identities``: the store's current identities, when the caller holds them."""
    from ccapki.lifecycle.trustops import load_inventory, trust_changes

    inv = load_inventory(store, dep, identities)
    changes = [c for c in trust_changes(inv) if c.action == "add"]
    store.trust.add_many([(c.appliance, c.certificate, c.description) for c in changes])
    return [str(c) for c in changes]
