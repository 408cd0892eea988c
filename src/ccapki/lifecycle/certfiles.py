"""Certificate files: CSRs, exports, HA checks, client roots.

The FAQ's pains handled here: "private key not found" (the key saved when the CSR was made is
kept sealed in the store, and a CSR never destroys an older pending key), "combine the
certificate and the private key in a single file and upload that" (``export pem-bundle``),
"install the same certificate on both devices in a HA pair" (``export --for-peer``,
``check-ha``), and which root clients must install (``export-roots``). Importing what a CA
sends back is :mod:`ccapki.lifecycle.importing`.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)

from ccapki.errors import NotFoundError
from ccapki.pki.certs import fingerprint
from ccapki.pki.issue import build_csr
from ccapki.pki.keys import generate_key, public_key_fingerprint
from ccapki.store.records import KeyState, StoredIdentity
from ccapki.store.session import Store
from ccapki.topology.model import Deployment, IdentitySpec
from ccapki.topology.plan import make_plan

if TYPE_CHECKING:  # the trust engine loads for the fit and HA checks only, not for exports
    from collections.abc import Mapping

    from ccapki.store.records import CsrRecord
    from ccapki.topology.plan import Action, CurrentIdentity, Plan
    from ccapki.topology.releases import ReleaseProfile
    from ccapki.trust import Finding, HaCheck

__all__ = [
    "ClientRoot",
    "CsrResult",
    "check_fit",
    "check_ha_pair",
    "client_roots",
    "ha_heartbeat_blockers",
    "ha_peer_trust",
    "identity_material",
    "make_csrs",
    "plan_names",
    "public_roots",
    "revise_for_pending_csrs",
    "with_pending_csrs",
]


# ---------------------------------------------------------------------------- CSRs


@dataclass(frozen=True)
class CsrResult:
    """A CSR made for ``identity`` on the new pending key ``spki``. ``again``: one an
    earlier run made and the store kept but never handed over (no new key: the same CSR);
    ``path``: the file it was written to (``<stdout>``), when ccapki wrote it."""

    identity: str
    csr: x509.CertificateSigningRequest
    spki: str
    pending_before: int  # older pending keys kept for this identity
    again: bool = False
    path: str | None = None

    @property
    def pem(self) -> bytes:
        return self.csr.public_bytes(serialization.Encoding.PEM)


def make_csrs(
    store: Store,
    dep: Deployment,
    names: Sequence[str],
    deliver: Callable[[CsrResult], None] | None = None,
) -> list[CsrResult]:
    """A new key (sealed, pending) and a CSR for each named identity. Old pending keys stay.

    ``deliver`` (writing the CSR files) runs for each result before the store commits: if it
    raises, nothing is kept, so a key is never sealed for a CSR that was not handed over.

    Returns one :class:`CsrResult` per name, in order. Raises :class:`NotFoundError` for a
    name the plan does not hold, what unlocking the store raises, and what ``deliver``
    raises (nothing is kept then).
    """
    plan = make_plan(dep)
    store.unlock()
    out: list[CsrResult] = []
    with store.transaction():
        for name in names:
            p = plan.get(name)
            key = generate_key(p.spec.key_type)
            before = len(store.keys.list(identity=p.name, state=KeyState.PENDING))
            spki = store.keys.add(key, p.spec.key_type.value, p.name, KeyState.PENDING)
            csr = build_csr(p.request, key)
            store.csrs.add(p.name, csr, spki)
            out.append(CsrResult(p.name, csr, spki, before))
        if deliver is not None:
            for result in out:
                deliver(result)
    return out


def with_pending_csrs(
    store: Store, current: Mapping[str, CurrentIdentity]
) -> dict[str, CurrentIdentity]:
    """``current`` (what :func:`~ccapki.lifecycle.apply.current_state` read) with the
    newest pending CSR of each identity that has one, read from the store, so that the
    plan tells a CSR made for an older version of the deployment file (other names,
    another key type) from one to await. Reads only; raises what the store raises."""
    from dataclasses import replace

    from ccapki.topology.plan import PendingCsr

    out = dict(current)
    if not any(c.pending_csr for c in current.values()):
        return out
    for name, rec in store.csrs.pending().items():
        cur = out.get(name)
        csr = _parsed(rec)
        if cur is not None and cur.pending_csr and csr is not None:
            out[name] = replace(cur, csr=PendingCsr(csr, rec.created_at))
    return out


def _parsed(rec: CsrRecord) -> x509.CertificateSigningRequest | None:
    """The CSR of ``rec``; None when its stored PEM no longer parses (then the plan
    knows only that it is pending, as before CSRs were read)."""
    try:
        return rec.csr
    except ValueError:
        return None


def revise_for_pending_csrs(
    store: Store, plan: Plan, actions: Sequence[Action], now: dt.datetime
) -> tuple[Action, ...]:
    """``actions`` (of ``plan`` at ``now``, as ``apply`` decided them knowing only that a
    CSR is pending) with those of the third-party identities that have a pending CSR
    decided again from what that CSR asks for (:func:`with_pending_csrs`): a CSR made for
    an older version of the deployment file is stale, to make again, not awaited. Reads
    only the identities concerned; raises what the store raises."""
    from ccapki.topology.model import Source
    from ccapki.topology.plan import CurrentIdentity, PendingCsr, Plan, pending_actions

    third = {p.name for p in plan.identities if p.spec.source is Source.THIRD_PARTY}
    if not any(a.identity in third for a in actions):
        return tuple(actions)
    with store.scoped(plan.deployment.name):
        found: dict[str, PendingCsr] = {}
        for name, rec in store.csrs.pending().items():
            csr = _parsed(rec) if name in third else None
            if csr is not None:
                found[name] = PendingCsr(csr, rec.created_at)
        names = [a.identity for a in actions if a.identity in found]
        if not names:
            return tuple(actions)
        current: dict[str, CurrentIdentity] = {}
        for name in names:
            ident = store.identities.get(name)
            current[name] = CurrentIdentity(
                ident.certificate if ident else None,
                Source(ident.source) if ident else None,
                True,
                found[name],
            )
    again = pending_actions(Plan(plan.deployment, tuple(plan.get(n) for n in names)), current, now)
    redone = {a.identity: a for a in again}
    return tuple(redone.get(a.identity, a) for a in actions)


# ---------------------------------------------------------------------------- fit


def plan_names(spec: IdentitySpec) -> tuple[str, ...]:
    """Every DNS name and IP address the plan gives ``spec``, DNS names first."""
    return (*spec.dns_names, *(str(ip) for ip in spec.ip_addresses))


def check_fit(cert: x509.Certificate, spec: IdentitySpec, now: dt.datetime) -> list[Finding]:
    """Why ``cert`` does not fit ``spec``: names missing, validity, key usage, EKU.

    Returns the findings of :class:`ccapki.trust.FitPolicy` in rule order (empty: it fits);
    severity "error" refuses an import, "warning" only warns. Raises nothing.
    """
    from ccapki.topology.model import Source
    from ccapki.trust import FitPolicy

    issued = not spec.acme and spec.source is not Source.THIRD_PARTY
    policy = FitPolicy(spec.name, plan_names(spec), acme=spec.acme, issued=issued)
    return policy.evaluate(cert, now)


# ---------------------------------------------------------------------------- public roots


@functools.cache
def public_roots() -> tuple[x509.Certificate, ...]:
    """The common OS root stores, approximated by the certifi bundle (Mozilla's roots).

    Returns the roots (read once per process); raises nothing.
    """
    import certifi

    with warnings.catch_warnings():
        # a few long-trusted roots carry a negative serial; they are still roots
        warnings.simplefilter("ignore")
        return tuple(x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes()))


# ---------------------------------------------------------------------------- exports


def identity_material(
    store: Store, name: str, version: int | None = None
) -> tuple[StoredIdentity, CertificateIssuerPrivateKeyTypes]:
    """The current certificate of ``name`` (or its ``version``, see
    :func:`identity_version`) and its private key (unsealed in memory).

    Raises :class:`NotFoundError` when the store holds no certificate for ``name`` (or not
    that version), and what unsealing the key raises (a wrong passphrase, a missing key).
    """
    ident = identity_version(store, name, version)
    return ident, store.keys.private_key(ident.spki)


def identity_version(store: Store, name: str, version: int | None = None) -> StoredIdentity:
    """Version ``version`` of identity ``name`` as the store holds it (None: the current
    one). An earlier version stays whole after a renewal or a reissue: its certificate,
    chain and key (superseded, kept sealed), so a reissue can be undone by installing it
    again. Raises :class:`NotFoundError` when the store holds no certificate for ``name``
    or not that version (the hint lists those it holds)."""
    if version is None:
        ident = store.identities.get(name)
    else:
        history = store.identities.history(name)
        ident = next((v for v in history if v.version == version), None)
        if ident is None and history:
            held = ", ".join(f"v{v.version}" for v in history)
            raise NotFoundError(
                f"identity {name!r} has no version {version} in the store (it holds {held}; "
                f"v{history[-1].version} is the current one)",
                f"give one of those (`ccapki inspect {name} --version N` shows one), or leave "
                "out --version for the current one",
            )
    if ident is None:
        raise NotFoundError(
            f"identity {name!r} has no certificate in the store", _no_certificate_hint(store, name)
        )
    return ident


def _no_certificate_hint(store: Store, name: str) -> str:
    """How identity ``name`` gets its first certificate, from its source in the deployment
    file the store last applied: ``apply`` issues what ccapki issues; a third-party CA's
    comes through a CSR and ``import``; an ACME CA's through an order."""
    from ccapki.errors import CcapkiError
    from ccapki.lifecycle.status import read_settings

    source = None
    try:
        kept = store.deployments.latest()
        if kept is not None:
            source = read_settings(kept.text, kept.path or "<stored>", kept.facts).identities.get(
                name
            )
    except CcapkiError:  # a stored file that no longer parses: the general hint
        source = ""
    if source == "third-party":
        return (  # as `inspect` says it
            f"make its CSR (`ccapki csr {name}`), have your CA sign it, then `ccapki import` "
            "the certificate it returns"
        )
    if source == "acme":
        return f"order it from the ACME CA (`ccapki acme order {name}`, or `ccapki apply`)"
    if source is None:
        return (
            f"name {name} in the deployment file and run `ccapki apply FILE`, or import its "
            "certificate (`ccapki import FILE`)"
        )
    return "run `ccapki apply` (or `ccapki import` for a third-party certificate) first"


# ---------------------------------------------------------------------------- HA


def check_ha_pair(
    spec: IdentitySpec,
    primary: tuple[x509.Certificate, PrivateKeyTypes | None],
    secondary: tuple[x509.Certificate, PrivateKeyTypes | None],
    now: dt.datetime,
    *,
    profile: ReleaseProfile | None = None,
    trust: tuple[Sequence[x509.Certificate], Sequence[x509.Certificate]] | None = None,
) -> list[HaCheck]:
    """Both peers on one identity, naming the Service IP and both peers, fit for the heartbeat.

    ``primary`` and ``secondary`` are each peer's certificate and private key (``None``: no
    key); ``profile``: the release's (before 4.7 the rows are worded for a pair without the
    IPsec heartbeat, :func:`ccapki.trust.ha_rules`); ``trust``: each peer's trust store
    (:func:`ha_peer_trust`; None: not known), by which the validity row tells an expired
    certificate strongSwan refuses from one each peer trusts directly, whose dates it does
    not read (as ``trust check`` judges the ha-heartbeat cells). Returns one row per rule of
    :data:`ccapki.trust.HA_RULES` (names, validity and key
    usage checked on each peer: a secondary holding another pair's certificate, or an
    expired or unfit one, fails the row, which names it). Raises nothing.
    """

    from ccapki.trust import HaPair, HaPeer, check_ha

    def peer(
        side: tuple[x509.Certificate, PrivateKeyTypes | None],
        trusted: Sequence[x509.Certificate] | None,
    ) -> HaPeer:
        cert, key = side
        spki = None if key is None else public_key_fingerprint(key)
        return HaPeer(cert, spki, None if trusted is None else tuple(trusted))

    p_trust, s_trust = trust if trust is not None else (None, None)
    pair = HaPair(spec.name, plan_names(spec), peer(primary, p_trust), peer(secondary, s_trust))
    return check_ha(pair, now, profile=profile)


def ha_peer_trust(
    store: Store, spec: IdentitySpec
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """The trust stores the store holds for the primary and the secondary of HA pair
    ``spec`` (empty when it holds none). Raises what reading the store raises."""
    trust = store.trust.all()
    p, s = spec.members
    return list(trust.get(p.name, [])), list(trust.get(s.name, []))


def ha_heartbeat_blockers(
    store: Store,
    spec: IdentitySpec,
    checks: Sequence[HaCheck],
    primary: Sequence[x509.Certificate],
    secondary: Sequence[x509.Certificate],
    now: dt.datetime,
) -> tuple[str, ...]:
    """Why the IPsec heartbeat of HA pair ``spec`` would not come up with these chains
    (``primary``/``secondary``: what each peer presents, leaf first; ``checks``: made with
    the same trust stores, :func:`check_ha_pair` ``trust``) and the trust stores the store
    holds for its two peers (:func:`ccapki.trust.heartbeat_blockers`; the store's
    CAs and the identity's stored chain as the intermediates a peer holds). Empty: it comes
    up. Raises what reading the store raises.
    """
    from ccapki.trust import heartbeat_blockers

    p_trust, s_trust = ha_peer_trust(store, spec)
    p, s = spec.members
    candidates = [c.certificate for c in store.cas.list()]
    current = store.identities.get(spec.name)
    if current is not None:
        candidates += current.chain
    return heartbeat_blockers(
        checks, primary, secondary, p_trust, s_trust, now,
        candidates=candidates, peers=(f"primary {p.name}", f"secondary {s.name}"),
    )  # fmt: skip


# ---------------------------------------------------------------------------- client roots


@dataclass(frozen=True)
class ClientRoot:
    """A root clients must trust, the identities that chain to it, and whether the common OS
    stores already hold it."""

    certificate: x509.Certificate
    identities: tuple[str, ...]
    public: bool  # in the common OS stores: no client action needed
    self_signed_leaf: bool
    #: False when the chain stops below its root and the store holds no issuer above
    #: ``certificate`` (imported with ``--force`` without its chain): the root is unknown
    complete: bool = True
    #: an earlier root of ``identities`` (before a renewal or a CA rollover) that the
    #: appliances' trust stores still hold: the appliances present the certificates it
    #: signed until the renewed ones are installed, so clients keep it until then (`ccapki
    #: trust apply --prune` retires it; see :func:`client_roots` ``outgoing_at``)
    outgoing: bool = False


def _named_identities(store: Store) -> frozenset[str] | None:
    """The identities the deployment file the store last applied names; None when it kept
    no file (or one this ccapki no longer reads: every identity then counts)."""
    from ccapki.errors import CcapkiError
    from ccapki.topology.fastload import parse_deployment

    kept = store.deployments.latest()
    if kept is None or not kept.text:
        return None
    try:
        dep = parse_deployment(kept.text, kept.path or "<stored deployment>")
    except CcapkiError:
        return None
    return frozenset(i.name for i in dep.identities)


def client_roots(
    store: Store,
    identities: Collection[str] | None = None,
    *,
    outgoing_at: dt.datetime | None = None,
    current: Mapping[str, StoredIdentity] | None = None,
) -> list[ClientRoot]:
    """The roots clients need, one per distinct anchor, with the identities behind each.

    ``current``: ``store.identities.current()``, when the caller has just read it.

    ``outgoing_at``: also the earlier roots still valid at that time that the appliances'
    trust stores still hold (an identity renewed since: its earlier true self-signed
    certificate; a CA rolled over: the earlier root), after the current ones, each with
    ``outgoing``: until the renewed certificates are installed the appliances present what
    they signed, so clients must keep them (what `ccapki export-roots` writes).

    ``identities``: the identities to count (None: those the deployment file the store
    last applied names, or every identity it holds when it kept no file); one the file no
    longer names (a CAS removed) serves no client, so its root (its own certificate, when
    true self-signed) is not one clients need.

    Each identity's chain is completed from the CAs the store holds, as ``trust plan`` and
    ``trust check`` do (:func:`ccapki.trust.required_anchor`, without loading the trust
    engine), so a certificate imported without its chain names its CA's root once the store
    has it. Returns them in the order of the identities' names; raises nothing beyond store
    errors.
    """
    from ccapki.pki.certs import is_self_signed
    from ccapki.pki.chain import extend_chain

    if identities is None:
        identities = _named_identities(store)
    elif not isinstance(identities, set | frozenset):  # asked once per identity held
        identities = frozenset(identities)
    public_fps = {fingerprint(c) for c in public_roots()}
    candidates = [c.certificate for c in store.cas.list()]
    by_fp: dict[str, tuple[x509.Certificate, list[str], bool]] = {}
    # thousands of identities share a few chains (and so anchors): each completed once
    anchors: dict[tuple[int, ...], tuple[x509.Certificate, str]] = {}
    held = store.identities.current() if current is None else current
    for name, ident in sorted(held.items()):
        if identities is not None and name not in identities:
            continue
        shared = tuple(map(id, ident.chain))
        found = anchors.get(shared) if ident.chain else None
        if found is None:
            anchor = extend_chain((ident.certificate, *ident.chain), candidates)[-1]
            if anchor is ident.certificate:  # its own anchor (true self-signed), or none found
                found = (anchor, ident.fingerprint)
            else:
                found = (anchor, fingerprint(anchor))
                if ident.chain:
                    anchors[shared] = found
        anchor, fp = found
        leaf = fp == ident.fingerprint
        entry = by_fp.setdefault(fp, (anchor, [], leaf))
        entry[1].append(name)
    out = []
    for fp, (cert, names, leaf) in by_fp.items():
        whole = is_self_signed(cert)
        out.append(ClientRoot(cert, tuple(names), fp in public_fps, leaf and whole, whole))
    if outgoing_at is not None:
        out += _outgoing_roots(store, identities, set(by_fp) | public_fps, outgoing_at)
    return out


#: the label of an entry `ccapki trust add` made (``ccapki.lifecycle.trustops.HAND_ADDED``,
#: not imported from there: that loads the trust engine, which exports need not)
_HAND_ADDED = "added from "


def _outgoing_roots(
    store: Store, identities: Collection[str] | None, current: set[str], now: dt.datetime
) -> list[ClientRoot]:
    """The roots of :func:`client_roots` ``outgoing_at``: trust-store entries (not added
    by hand, not removed) that are valid at ``now``, are no current root, and are an
    earlier version of an identity the file names (true self-signed) or a root CA of the
    store (rolled over, or an identity's former Perfigo root)."""
    from ccapki.pki.certs import is_self_signed

    by_hand = {fp for _, fp in store.trust.labelled(_HAND_ADDED)}
    held: dict[str, x509.Certificate] = {}
    for certs in store.trust.all().values():
        for c in certs:
            held.setdefault(fingerprint(c), c)
    wanted = {
        fp: c
        for fp, c in held.items()
        if fp not in current
        and fp not in by_hand
        and c.not_valid_before_utc <= now < c.not_valid_after_utc
        and is_self_signed(c)
    }
    if not wanted:
        return []
    ca_roots = {c.fingerprint for c in store.cas.list() if is_self_signed(c.certificate)}
    versions: dict[str, list[str]] = {}
    sql = (
        "SELECT fingerprint, identity FROM certificates "
        "WHERE deployment = :d AND fingerprint IN :fps"
    )
    fps = sorted(wanted)
    for i in range(0, len(fps), 500):
        for fp, name in store.rows(sql, {"d": store.deployment, "fps": fps[i : i + 500]}):
            if identities is None or name in identities:
                versions.setdefault(fp, []).append(name)
    out = []
    for fp in fps:
        if fp in versions:  # an earlier true self-signed certificate of an identity
            names = tuple(dict.fromkeys(versions[fp]))
            out.append(ClientRoot(wanted[fp], names, False, True, True, outgoing=True))
        elif fp in ca_roots:
            out.append(ClientRoot(wanted[fp], (), False, False, True, outgoing=True))
    return out
