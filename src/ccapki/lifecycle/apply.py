"""``ccapki apply``: issue every identity the plan names, from its source, idempotently."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib
import json
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from ccapki._util import gc_paused
from ccapki.errors import InputError, Interrupted, StoreBusy
from ccapki.lifecycle._forkpool import ForkedMap
from ccapki.lifecycle.status import settings_json
from ccapki.pki.certs import display_name, fingerprint
from ccapki.pki.issue import (
    IdentityTemplate,
    Issuer,
    fit_name,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from ccapki.pki.signer import ExternalKey, SignerKey
from ccapki.store.records import (
    CertFacts,
    IdentityRecord,
    KeyState,
    StoredCA,
    StoredIdentity,
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

if TYPE_CHECKING:
    from ccapki.store.keyring import Keyring
    from ccapki.trust import Change

__all__ = [
    "CA_KINDS",
    "ApplyResult",
    "apply_plan",
    "current_state",
    "ensure_issuers",
    "remembered_nothing_to_do",
    "signer_for",
    "trust_additions",
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
    #: the store's identities (``store.identities.current()``) as this apply left them,
    #: when it holds them in memory after issuing (None: read them)
    stored: Mapping[str, StoredIdentity] | None = field(default=None, compare=False, repr=False)


def _previous_name(store: Store) -> str | None:
    """The ``[deployment]`` name of the file the store last applied (None: none yet)."""
    import tomllib

    kept = store.deployments.latest()
    if kept is None:
        return None
    if kept.facts:  # kept with the file (schema 0009): no need to parse it
        with contextlib.suppress(ValueError, AttributeError):
            name = json.loads(kept.facts).get("name")
            if isinstance(name, str):
                return name
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


def _cas_to_create(store: Store, needed: set[str]) -> tuple[str, ...]:
    """The CAs :func:`ensure_issuers` would create for the signers ``needed`` (read from
    the store's CA certificates: no key is unsealed), described for a dry run."""
    have = {c.kind for c in store.cas.list()}
    out: list[str] = []
    if PERFIGO_ROOT in needed and PERFIGO_ROOT not in have:
        out.append("the Perfigo root (emulated by ccapki)")
    if INTERNAL_CA in needed:
        if INTERNAL_ROOT not in have:
            out.append("the internal root CA")
        if INTERNAL_CA not in have:
            out.append("the internal issuing CA")
    return tuple(out)


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
        _reach_tokens_first(store, dep)
        root = store.cas.issuer(INTERNAL_ROOT)
        if root is None:
            rkey = _new_ca_key(store, dep, INTERNAL_ROOT, KeyType.ECDSA_P384)
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
            ikey = _new_ca_key(store, dep, INTERNAL_CA, KeyType.ECDSA_P256)
            _not_the_root_key(ikey, root)
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


def _new_ca_key(store: Store, dep: Deployment, kind: str, key_type: KeyType) -> SignerKey:
    """A new key for the internal CA ``kind``: in the PKCS#11 token the deployment file's
    ``[ca]`` names for it (generated there, or the key the token holds under that URI),
    else in memory (sealed in the store with its CA). Raises
    :class:`~ccapki.errors.TokenError` when the token fails."""
    keys = dep.ca_keys
    uri = keys.root_pkcs11_uri if kind == INTERNAL_ROOT else keys.intermediate_pkcs11_uri
    if uri is None:
        return generate_key(key_type)
    from ccapki.hsm.uri import parse_pkcs11_uri

    return store.token_keys.create(parse_pkcs11_uri(uri), keys.pkcs11_module, key_type)


def _reach_tokens_first(store: Store, dep: Deployment) -> None:
    """Before a key is generated in a PKCS#11 token: every token that a new internal CA's
    key goes to (the file's ``[ca]``) is there and logged in, and the two URIs name two
    keys; so a failure (a token label typo, a wrong PIN) leaves no key behind in a token.
    Raises :class:`~ccapki.errors.TokenError`, or :class:`InputError` for one URI twice."""
    keys = dep.ca_keys
    todo = [
        uri
        for kind, uri in (
            (INTERNAL_ROOT, keys.root_pkcs11_uri),
            (INTERNAL_CA, keys.intermediate_pkcs11_uri),
        )
        if uri is not None and not store.cas.list(kind)
    ]
    if not todo:
        return
    from ccapki.hsm.uri import parse_pkcs11_uri

    parsed = [parse_pkcs11_uri(uri).without_module() for uri in todo]
    if len(parsed) == 2 and parsed[0] == parsed[1]:
        raise _same_key_error()
    for uri in parsed:
        store.token_keys.login(uri, keys.pkcs11_module)


def _same_key_error() -> InputError:
    return InputError(
        "the intermediate CA's key in the PKCS#11 token is the root CA's key; nothing was written",
        "give [ca] intermediate_pkcs11_uri (or --intermediate-pkcs11-uri) another "
        "object= than the root's",
    )


def _not_the_root_key(key: SignerKey, root: Issuer) -> None:
    """Refuse an intermediate CA key that is the root's (two PKCS#11 URIs naming one key
    object): the intermediate would add nothing. Raises :class:`InputError`."""
    from ccapki.pki.keys import public_key_fingerprint

    if public_key_fingerprint(key.public_key()) == public_key_fingerprint(root.key.public_key()):
        raise _same_key_error()


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
    cert = _signed(p, signer, issuers, now, key, key.public_key())
    chain = _chain_for(signer, issuers)
    return IdentityRecord(
        identity=p.name,
        key=key if kept is None else None,
        key_type=p.spec.key_type.value,
        certificate=cert,
        chain=chain,
        source=p.spec.source,
    )


def _signed(
    p: PlannedIdentity,
    signer: str,
    issuers: dict[str, Issuer],
    now: dt.datetime,
    key: CertificateIssuerPrivateKeyTypes,
    public: CertificateIssuerPublicKeyTypes,
) -> x509.Certificate:
    """The certificate of ``p`` on ``key`` (whose public half is ``public``), signed by
    ``signer`` ("self": by ``key`` itself)."""
    if signer == "self":
        return issue_identity(p.request, public, now=now, days=p.validity_days, self_key=key)
    return issue_identity(p.request, public, now=now, days=p.validity_days, issuer=issuers[signer])


#: Below this many identities, issuing stays in this process (a pool costs ~50 ms to start).
PARALLEL_MIN = 256
#: Issued in this process, identities come back (and are counted, and a progress callback
#: can stop the work) one at a time: an RSA-4096 key alone takes a good part of a second.
_SERIAL_CHUNK = 1
#: What forked workers inherit (set by :func:`issue_batches` before the fork): the
#: issuers (no CA key is sent anywhere) and the jobs (a task is a range of them).
_FORK_ISSUERS: dict[str, Issuer] = {}
_FORK_JOBS: list[tuple[PlannedIdentity, str]] = []
#: The store's data key, when the caller gives it: workers seal each new key with it, so no
#: private key leaves the process that made it unsealed.
_FORK_KEYRING: Keyring | None = None

#: What a worker returns per identity: the key's PKCS#8 DER (None when sealed), the key
#: sealed with the store's data key (None without it), the certificate's facts, its DER.
_Issued = tuple[bytes | None, tuple[bytes, bytes] | None, CertFacts, bytes]


def _issue_chunk(args: tuple[int, int, dt.datetime]) -> list[_Issued]:
    """Worker: issue the jobs ``start:end`` of :data:`_FORK_JOBS` at ``now``; returns
    (PKCS#8 key DER, or None and the key sealed with :data:`_FORK_KEYRING`; certificate
    facts) each, in their order.

    The facts (PEM, fingerprints, names, dates) are what the store keeps; computing them
    here takes that work off the parent, which seals and persists. They are
    :func:`~ccapki.store.records.certificate_facts` of each certificate, computed from what
    the worker has at hand: the SPKI hash from the key (the certificate's SPKI is the
    key's), the issuer name once per CA (every certificate it signs names it alike: one
    DN, one text).
    """
    import hashlib
    import ssl

    from cryptography.hazmat.primitives.serialization import Encoding

    from ccapki.pki.keys import private_key_der, public_key_fingerprint

    start, end, now = args
    out: list[_Issued] = []
    keyring = _FORK_KEYRING
    issuer_text: dict[str, str] = {}
    # one object per distinct date (a chunk shares its validity): pickled once, not each time
    dates: dict[dt.datetime, dt.datetime] = {}
    # what the certificates of one signer and validity share, made once a chunk
    templates: dict[tuple[str, int], IdentityTemplate] = {}
    for p, signer in _FORK_JOBS[start:end]:
        key = generate_key(p.spec.key_type)
        public = key.public_key()
        template = templates.get((signer, p.validity_days))
        if template is None:
            template = templates[signer, p.validity_days] = IdentityTemplate(
                now, p.validity_days, issuer=None if signer == "self" else _FORK_ISSUERS[signer]
            )
        # the subject made once: signed into the certificate and written as text (the
        # certificate's own, parsed back, would be a second Name of the same attributes)
        request = p.request  # (made anew at each reading)
        name, subject = request.subject_and_text()
        cert = template.issue(request, public, self_key=key, subject=name)
        if signer == "self":  # its own issuer: one DN
            issuer = subject
        else:
            found = issuer_text.get(signer)
            issuer = found if found is not None else cert.issuer.rfc4514_string()
            issuer_text[signer] = issuer
        before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
        # the DER encoded once: the fingerprint is its SHA-256 and the PEM its base64
        # (cryptography's fingerprint() and PEM output each encode it again)
        der = cert.public_bytes(Encoding.DER)
        facts = CertFacts(
            fingerprint=hashlib.sha256(der).hexdigest(),
            spki=public_key_fingerprint(public),
            serial=format(cert.serial_number, "x"),
            subject=subject,
            issuer=issuer,
            not_before=dates.setdefault(before, before),
            not_after=dates.setdefault(after, after),
            pem=ssl.DER_cert_to_PEM_cert(der),
        )
        key_der = private_key_der(key)
        if keyring is None:
            out.append((key_der, None, facts, der))
        else:
            out.append((None, keyring.seal(key_der, facts.spki), facts, der))
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
    keyring: Keyring | None = None,
    announce: bool = False,
) -> Generator[list[IdentityRecord], None, None]:
    """Issue every job, yielding batches as they are done, so the caller can persist one
    batch while the next is being issued. In bulk, key generation and signing run on every
    core. ``announce``: the first batch is empty, yielded as soon as the workers are at
    work (a caller starts them with ``next()`` and does other work while they issue).

    Worker processes are forked, so they inherit the issuers in memory (no CA key is sent
    anywhere); each new key comes back once, over the pool's pipe: sealed by the worker
    with ``keyring`` (the store's data key, inherited the same way) when given, else as
    PKCS#8 DER for the caller to seal.
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
        # a key in a PKCS#11 token signs in this process only (a session is not forked)
        or any(isinstance(i.key, ExternalKey) for i in issuers.values())
    ):
        if announce:
            yield []
        for i in range(0, len(jobs), _SERIAL_CHUNK):
            yield [issue_one(p, s, issuers, now) for p, s in jobs[i : i + _SERIAL_CHUNK]]
        return
    global _FORK_ISSUERS, _FORK_JOBS, _FORK_KEYRING
    _FORK_ISSUERS, _FORK_JOBS, _FORK_KEYRING = issuers, jobs, keyring
    size = max(32, len(jobs) // (cpus * 8))
    # a task names a range of the jobs the workers inherit: a few bytes to send
    bounds = [(i, min(i + size, len(jobs)), now) for i in range(0, len(jobs), size)]
    try:
        # leaving the loop (done, an error, a signal, closed) kills and reaps the workers
        with ForkedMap(_issue_chunk, bounds, cpus, _quiet_worker) as chunks_done:
            if announce:
                yield []
            # one chain tuple per signer, shared by every record it signs: what reads them
            # (the trust stores' anchors, the stored chains) sees each chain once
            chains: dict[str, tuple[x509.Certificate, ...]] = {}
            for k, chunk in enumerate(chunks_done):
                start, end, _ = bounds[k]
                for _, signer in jobs[start:end]:
                    if signer not in chains:  # (a self-signed one's chain is empty)
                        chains[signer] = _chain_for(signer, issuers)
                records: list[IdentityRecord] = []
                for (p, signer), (key_der, sealed, facts, der) in zip(
                    jobs[start:end], chunk, strict=True
                ):
                    records.append(
                        IdentityRecord(
                            identity=p.name,
                            key=None,
                            key_type=p.spec.key_type.value,
                            # from the DER: a third of the PEM's parsing (no base64)
                            certificate=x509.load_der_x509_certificate(der),
                            chain=chains[signer],
                            source=p.spec.source,
                            key_der=key_der,
                            facts=facts,
                            key_sealed=sealed,
                        )
                    )
                yield records
    finally:
        _FORK_ISSUERS, _FORK_JOBS, _FORK_KEYRING = {}, [], None


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
    todo = [a for a in actions if a.kind in _ISSUING]
    return held, actions, todo


#: The actions apply carries out (the others it reports)
_ISSUING = frozenset({ActionKind.ISSUE, ActionKind.REISSUE, ActionKind.RENEW})


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
    if not dry_run:  # the same file on the same store, nothing come due: nothing to do
        known = _known_nothing_to_do(store, dep, now, report)
        if known is not None:
            return known
    plan = make_plan(dep)
    named = {p.name for p in plan.identities}
    if dry_run:
        held, actions, todo = _decide(store, plan, now)
        previous = _previous_name(store)
        renamed = previous if previous is not None and previous != dep.name else None
        gone = tuple(sorted(n for n in held if n not in named))
        # nothing to issue: the trust-store entries apply would add to the stores as they
        # are (e.g. what an interrupted apply left undone); with identities to issue they
        # depend on the certificates still to be made
        would_add = [] if todo else [str(c) for c in trust_additions(store, dep, held)]
        would_make = _cas_to_create(store, {signer_for(plan.get(a.identity), dep) for a in todo})
        return ApplyResult(actions, (), would_make, True, tuple(would_add), gone, renamed)
    store.unlock()  # a wrong passphrase fails here, before anything is written
    # decided under the write lock: another writer's change is either seen here or waits
    batches: Generator[list[IdentityRecord], None, None] | None = None
    try:
        with store.transaction():
            previous = _previous_name(store)
            held, actions, todo = _decide(store, plan, now)
            mark = store.change_mark()  # held is all there is until another connection commits
            jobs = [(p, signer_for(p, dep)) for p in (plan.get(a.identity) for a in todo)]
            # the file's version first: what it says of its CAs (a CA shared with other
            # deployments) decides which CAs ensure_issuers finds or makes; with identities
            # to issue, only that much of its facts before the workers start, the rest after
            recorded = store.deployments.record(
                dep.name,
                dep.source_text,
                path,
                settings_json(dep, plan, whole=not jobs),
                partial=bool(jobs),
            )
            issuers, created = ensure_issuers(store, plan, now, needed={s for _, s in jobs})
            if created:  # clients need their roots: said by the apply that finishes
                _note_roots_unsaid(store, dep.name, created)
            if jobs:
                # the workers start now and issue while this transaction ends and commits
                # (they never touch the store: each batch is committed after this
                # transaction, by this process)
                batches = issue_batches(jobs, issuers, now, keyring=store.keyring, announce=True)
                next(batches)
                store.deployments.record(dep.name, dep.source_text, path, settings_json(dep, plan))
                # what fills the trust stores once the last batch is in, loaded while the
                # workers issue (the trust rules: ~0.1 s to import, the first time)
                importlib.import_module("ccapki.lifecycle.trustops")
            made = [c for c in store.cas.list() if c.name in created] if created else []
            # nothing to issue: the identities read above are current (read them once)
            trust_added = [] if jobs else fill_trust_stores(store, dep, held)
            if not (jobs or recorded or created or trust_added):
                _remember_nothing_to_do(store, dep, now, held, actions, previous)
    except BaseException:
        if batches is not None:  # the decision was not committed: nothing it issued is kept
            batches.close()
        raise
    try:
        renamed = previous if previous is not None and previous != dep.name else None
        gone = tuple(sorted(n for n in held if n not in named))
        kept: list[str] = []
        elsewhere: list[str] = []
        if report is not None:
            report.update(deployment=dep.name, kept=kept, total=len(jobs), created=list(created))
        current: dict[str, StoredIdentity] | None = None  # the identities after issuing
        if jobs:
            # what each identity's newest certificate was when apply decided to issue it
            seen = {
                a.identity: (held[a.identity].fingerprint if a.identity in held else None)
                for a in todo
            }
            try:
                try:
                    issued: dict[str, StoredIdentity] = {}
                    assert batches is not None
                    _issue_in_batches(
                        store,
                        batches,
                        len(jobs),
                        seen,
                        kept,
                        elsewhere,
                        progress,
                        issued,
                        held=held,
                        mark=mark,
                    )
                    with store.transaction():
                        if mark is not None and store.change_mark() == mark:
                            current = {**held, **issued}
                        else:  # read again: another writer may have issued meanwhile
                            current = _still_current(store, held, issued)
                        trust_added = fill_trust_stores(store, dep, current)
                        if current is not None and not elsewhere and len(kept) <= REMEMBER_AT_MOST:
                            _remember_when_done(store, dep, plan, now, current)
                except Exception as error:
                    # a signal that cut a database statement short leaves as the driver's error
                    # (psycopg: "cannot exit pipeline mode while busy", its context the signal's
                    # Interrupted): it is the interruption, and what was kept is said as ever
                    stopped = _interruption_behind(error)
                    if stopped is None:
                        raise
                    raise stopped from error
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
    finally:
        if batches is not None:  # the workers stop (when the loop did not end them)
            batches.close()
    return ApplyResult(
        actions,
        tuple(kept),
        tuple(created),
        False,
        tuple(trust_added),
        gone,
        renamed,
        tuple(elsewhere),
        current,
    )


def _interruption_behind(error: BaseException) -> Interrupted | None:
    """The :class:`Interrupted` that ``error`` was raised while handling (its context
    chain), if any."""
    seen: set[int] = set()
    cause = error.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, Interrupted):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None


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
            # a key in a PKCS#11 token stays there (a later apply finds it by its URI)
            c.execute(
                delete(t.ca_token_keys).where(
                    t.ca_token_keys.c.fingerprint == ca.spki,
                    t.ca_token_keys.c.deployment == ca.deployment,
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
    batches: Generator[list[IdentityRecord], None, None],
    total: int,
    seen: Mapping[str, str | None],
    kept: list[str],
    elsewhere: list[str],
    progress: Progress | None,
    committed: dict[str, StoredIdentity] | None = None,
    *,
    held: Mapping[str, StoredIdentity] | None = None,
    mark: object | None = None,
) -> None:
    """Commit the ``total`` identities ``batches`` issues (:func:`issue_batches`, closed
    at the end) in batches; ``kept`` gets what was committed (and ``committed``, when
    given, each committed identity as the store holds it).

    Each batch is checked under the write lock: an identity whose newest certificate is no
    longer the one ``seen`` when apply decided (another ccapki issued it meanwhile) is left
    to that writer and noted in ``elsewhere``. While the store's :meth:`~Store.change_mark`
    is still ``mark`` (taken when apply read ``held``, the identities' newest versions), no
    other writer has committed: nothing is read back.
    """
    if held is None:
        mark = None
    done = 0
    waiting: list[IdentityRecord] = []
    last = time.monotonic()

    def commit() -> None:
        nonlocal waiting, last
        fresh: list[IdentityRecord] = []
        newest: dict[str, str] | None
        counted = len(kept)
        try:
            with store.transaction():
                if mark is not None and store.change_mark() == mark:
                    # no other writer has committed since apply decided: the newest
                    # versions are still those it read (each identity is issued once here)
                    newest = None
                    fresh = waiting
                    stored = store.identities.add(fresh, newest=held)
                else:
                    newest = store.identities.newest_fingerprints([r.identity for r in waiting])
                    fresh = [r for r in waiting if newest.get(r.identity) == seen[r.identity]]
                    stored = store.identities.add(fresh)
            kept.extend(r.identity for r in fresh)
            if committed is not None:
                committed.update((i.name, i) for i in stored)
            if newest is not None:
                elsewhere.extend(
                    r.identity for r in waiting if newest.get(r.identity) != seen[r.identity]
                )
        except BaseException:
            # a signal handled as the database committed, or after it before the batch was
            # counted, still interrupts: what landed is counted from the store (if it can
            # still be read), whatever of the batch was counted already
            with contextlib.suppress(Exception):
                landed = _landed(store, fresh)
                del kept[counted:]
                kept.extend(landed)
            raise
        waiting, last = [], time.monotonic()

    if progress is not None:
        progress(0, total)  # what there is to do, before the first (slow) key
    # closed as soon as the loop is left (an error, a signal): the workers stop there
    with contextlib.closing(batches):
        for batch in batches:  # committed while workers issue on
            waiting += batch
            done += len(batch)
            if progress is not None:
                progress(done, total)
            if len(waiting) >= BATCH_SIZE or time.monotonic() - last >= BATCH_SECONDS:
                commit()
    if waiting:
        commit()


def _still_current(
    store: Store, held: Mapping[str, StoredIdentity], issued: Mapping[str, StoredIdentity]
) -> dict[str, StoredIdentity] | None:
    """What ``store.identities.current()`` returns now, from memory: the identities read
    before issuing (``held``) with those this apply committed (``issued``) over them, when
    the store's newest versions are exactly those (checked from the stored columns: no
    certificate row or PEM is read). None when another writer changed any: the caller
    reads them again."""
    out: dict[str, StoredIdentity] = {}
    for f in store.identities.current_facts():
        known = issued.get(f.identity) or held.get(f.identity)
        if known is None or (known.version, known.fingerprint) != (f.version, f.fingerprint):
            return None
        out[f.identity] = known
    return out


def fill_trust_stores(
    store: Store, dep: Deployment, identities: Mapping[str, StoredIdentity] | None = None
) -> list[str]:
    """Add to each appliance's trust store what its channels need (never removes).
    ``identities``: the store's current identities, when the caller holds them."""
    changes = trust_additions(store, dep, identities)
    store.trust.add_many([(c.appliance, c.certificate, c.description) for c in changes])
    return [str(c) for c in changes]


def trust_additions(
    store: Store, dep: Deployment, identities: Mapping[str, StoredIdentity] | None = None
) -> list[Change]:
    """The trust-store entries :func:`fill_trust_stores` would add now (reads only)."""
    from ccapki.lifecycle.trustops import load_inventory, trust_changes

    inv = load_inventory(store, dep, identities)
    return [c for c in trust_changes(inv) if c.action == "add"]


# ------------------------------------------------------------- nothing to do, remembered
#
# An apply that found nothing to do remembers it (in the store's ``meta`` table, in the
# transaction that decided it): the deployment file's digest (with this ccapki's version),
# the store's revision (:func:`ccapki.lifecycle.inventory.store_revision`: any write to what
# apply reads changes it), when it decided, the first time an identity becomes due for
# renewal, and the result (each identity's action, with the expiry its reason counts the
# days to). The next apply of the same file, on the same revision, after that decision and
# before that time, gives the same result without reading every identity again.

#: ``meta`` key of a deployment's remembered "nothing to do" (+ a digest of its name)
_NOTHING_KEY = "apply-nothing:"


def _nothing_key(name: str) -> str:
    import hashlib

    return _NOTHING_KEY + hashlib.sha256(name.encode()).hexdigest()[:40]


#: The code whose rules decide what apply does with a file (beside ccapki's version: a
#: build of the same version with other rules must decide anew, not answer from memory).
_RULE_MODULES = (
    "ccapki.topology.plan",
    "ccapki.topology.model",
    "ccapki.topology.loader",
    "ccapki.lifecycle.apply",
    "ccapki.lifecycle.trustops",
    "ccapki.pki.certs",
)


@functools.cache
def _rules_digest() -> str:
    """SHA-256 of the source of the modules that decide what apply does
    (:data:`_RULE_MODULES`; a module without its source file counts by name)."""
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in _RULE_MODULES:
        h.update(name.encode() + b"\0")
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin and origin.endswith(".py"):
            with contextlib.suppress(OSError):
                h.update(Path(origin).read_bytes())
    return h.hexdigest()


def _file_digest(name: str, text: str) -> str:
    """What a remembered "nothing to do" is for: this ccapki's version and rules, the
    deployment's name and its file's text."""
    import hashlib

    from ccapki import __version__

    key = f"{__version__}\0{_rules_digest()}\0{name}\0{text}"
    return hashlib.sha256(key.encode()).hexdigest()


def _known_nothing_to_do(
    store: Store, dep: Deployment, now: dt.datetime, report: dict[str, object] | None
) -> ApplyResult | None:
    """:func:`remembered_nothing_to_do` of ``dep`` (unlocking the store first, as apply
    does), filling ``report`` as apply does when it answers."""
    store.unlock()  # a wrong passphrase fails here, whatever there is to do
    if not dep.source_text:  # a Deployment not read from a file: nothing to compare
        return None
    known = remembered_nothing_to_do(store, dep.name, dep.source_text, now)
    if known is not None and report is not None:
        report.update(deployment=dep.name, kept=[], total=0)
    return known


def remembered_nothing_to_do(
    store: Store, name: str, text: str, now: dt.datetime
) -> ApplyResult | None:
    """What applying deployment ``name``'s file ``text`` at ``now`` gives, when a previous
    apply of that same text (by this ccapki version), on the store as it is now, found
    nothing to do, and ``now`` is after that decision and before any identity comes due
    for renewal; None otherwise (apply then decides as ever). The text need not be parsed:
    it parsed, as deployment ``name``, when it was remembered. Reads only (the store
    must be unlocked by the caller when it must be). Raises what the store raises."""
    import json

    from ccapki.lifecycle.inventory import store_revision

    if store.read_only:  # apply says it cannot write there, whatever there is to do
        return None
    found = store.rows('SELECT value FROM meta WHERE "key" = :k', {"k": _nothing_key(name)})
    kept = found[0][0] if found else None
    if kept is None:
        return None
    try:
        known = json.loads(kept)
        since, due = (dt.datetime.fromisoformat(known[k]) for k in ("from", "due"))
        if (
            known["digest"] != _file_digest(name, text)
            or not since <= now < due
            or tuple(known["revision"]) != store_revision(store)
        ):
            return None
        kinds = {k.value: k for k in ActionKind}
        words: dict[str, str] = {}  # a batch of certificates shares its expiry
        actions = []
        for identity, kind, reason, until in known["actions"]:
            if until is not None:  # as pending_actions words a current certificate
                reason = words.get(until)
                if reason is None:
                    left = dt.datetime.fromisoformat(until) - now
                    reason = words[until] = f"valid for {left.days} more days"
            actions.append(Action(identity, kinds[kind], reason))
        gone, renamed = tuple(known["gone"]), known["renamed"]
    except (ValueError, KeyError, TypeError):  # written by another version: decide anew
        return None
    return ApplyResult(tuple(actions), (), (), False, (), gone, renamed)


#: An apply that issued at most this many identities remembers, as it ends, what applying
#: the file again gives (deciding it reads each new certificate's extensions and key:
#: ~150 us an identity, a third of a bulk apply's own cost); after a larger one, the next
#: apply decides in full and remembers it then.
REMEMBER_AT_MOST = PARALLEL_MIN


def _remember_when_done(
    store: Store,
    dep: Deployment,
    plan: Plan,
    now: dt.datetime,
    current: Mapping[str, StoredIdentity],
) -> None:
    """After an apply that issued, in its last transaction: when applying the same file
    again would find nothing to do (``current``: the store's identities now, every trust
    store filled), remember it as that apply would, so the next one answers at once
    instead of reading every identity back (a few renewed in an estate of 10,000: ~2 s)."""
    actions = pending_actions(plan, current_state(store, current), now)
    if any(a.kind in _ISSUING for a in actions):
        return
    _remember_nothing_to_do(store, dep, now, current, actions, _previous_name(store))


# ------------------------------------------------------------- roots not yet said
#
# The CAs an apply creates are new roots for clients: the apply says so in its closing
# steps ("next: clients ... need ..."). An apply interrupted after creating them never gets
# there, and the run that finishes it created nothing: the store keeps the CAs no finished
# `ccapki apply` has said (in ``meta``, per deployment), and the next one that finishes
# says them.

#: ``meta`` key of a deployment's CAs not yet said to clients (+ a digest of its name)
_UNSAID_KEY = "apply-roots-unsaid:"


def _unsaid_key(name: str) -> str:
    import hashlib

    return _UNSAID_KEY + hashlib.sha256(name.encode()).hexdigest()[:40]


def _note_roots_unsaid(store: Store, name: str, cas: Iterable[str]) -> None:
    """In the transaction that created ``cas``: deployment ``name``'s apply created them;
    no finished apply has said them to clients yet."""
    import json

    from sqlalchemy import delete, insert

    from ccapki.store import schema as t

    key = _unsaid_key(name)
    earlier = roots_unsaid(store, name)
    since = earlier.since if earlier.since is not None else store.now()
    value = {"cas": sorted(earlier.cas | set(cas)), "since": since.isoformat()}
    with store.connection() as c:
        c.execute(delete(t.meta).where(t.meta.c.key == key))
        c.execute(insert(t.meta), {"key": key, "value": json.dumps(value)})


@dataclass(frozen=True)
class Unsaid:
    """:func:`roots_unsaid`: the CAs, and when the first of them was created (what was
    issued since is what the interrupted apply issued)."""

    cas: frozenset[str] = frozenset()
    since: dt.datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.cas)


def roots_unsaid(store: Store, name: str) -> Unsaid:
    """The CAs an apply of deployment ``name`` created that no finished ``ccapki apply``
    has said to clients yet (an apply interrupted after creating them). Reads only."""
    import json

    sql = 'SELECT value FROM meta WHERE "key" = :k'
    for (value,) in store.rows(sql, {"k": _unsaid_key(name)}):
        try:
            said = json.loads(value)
            return Unsaid(
                frozenset(str(n) for n in said["cas"]), dt.datetime.fromisoformat(said["since"])
            )
        except (ValueError, KeyError, TypeError):
            return Unsaid()
    return Unsaid()


def roots_said(store: Store, name: str) -> None:
    """Deployment ``name``'s new roots were said to clients (:func:`roots_unsaid` is empty
    from now on); one write transaction, only when any were unsaid."""
    from sqlalchemy import delete

    from ccapki.store import schema as t

    if not roots_unsaid(store, name):
        return
    with store.transaction() as c:
        c.execute(delete(t.meta).where(t.meta.c.key == _unsaid_key(name)))


def _remember_nothing_to_do(
    store: Store,
    dep: Deployment,
    now: dt.datetime,
    held: Mapping[str, StoredIdentity],
    actions: tuple[Action, ...],
    previous: str | None,
) -> None:
    """Remember, in the apply's transaction, that applying ``dep`` found nothing to do
    (``actions``: none issues anything; nothing was recorded, created or added), for
    :func:`_known_nothing_to_do`. Forgets what was remembered when an action's words
    depend on the time in another way than a current certificate's days left."""
    import json

    from sqlalchemy import delete, insert

    from ccapki.lifecycle.inventory import store_revision
    from ccapki.pki.certs import renewal_window
    from ccapki.store import schema as t

    key = _nothing_key(dep.name)
    rows: list[tuple[str, str, str | None, str | None]] = []
    due: dt.datetime | None = None
    for a in actions:
        ident = held.get(a.identity)
        if a.kind is ActionKind.NOTHING and ident is not None:
            cert = ident.certificate
            until = cert.not_valid_after_utc
            ends = until - renewal_window(cert)
            due = ends if due is None or ends < due else due
            rows.append((a.identity, a.kind.value, None, until.isoformat()))
        elif a.kind in (ActionKind.CSR, ActionKind.AWAIT_CA) and ident is None:
            rows.append((a.identity, a.kind.value, a.reason, None))  # no certificate yet
        else:  # e.g. a third-party certificate due: its words count the days
            rows = []
            break
    with store.connection() as c:
        c.execute(delete(t.meta).where(t.meta.c.key == key))
        if not rows or not dep.source_text:
            return
        named = {i.name for i in dep.identities}
        value = {
            "digest": _file_digest(dep.name, dep.source_text),
            "revision": list(store_revision(store)),
            "from": now.isoformat(),
            "due": (due or now + dt.timedelta(days=36500)).isoformat(),
            "gone": sorted(n for n in held if n not in named),
            "renamed": previous if previous is not None and previous != dep.name else None,
            "actions": rows,
        }
        c.execute(insert(t.meta), {"key": key, "value": json.dumps(value)})
