"""``ccapki probe``: what every endpoint really serves, held against the inventory.

Each endpoint of a deployment (the lab's, or the real appliances' ``endpoints = {...}`` of
the deployment file: the same rule as ``verify --live --target``) gets one unverified TLS
handshake (:func:`ccapki.probe.observe_many`: bounded concurrency, a timeout per endpoint,
retries of a failed connection). The chain it presents, its protocol version and the
handshake time are kept, and :func:`classify` (pure) says what the chain is:

- ``expected``: the identity's current certificate;
- ``stale``: an older version of the identity (renewed in the store, not reloaded there);
- ``unknown``: a certificate the store does not hold for this appliance (drift: installed
  by hand, or another identity's);
- ``temporary``: the release's install-time temporary certificate still in place
  (self-signed, or signed by the Perfigo root, and not one the store holds);
- ``ha-mismatch``: the two peers of an HA pair present different certificates;
- ``unreachable`` (refused, timed out, no such host), ``not-tls``, ``handshake-error``.

:func:`probe_deployment` keeps the results (``store.probes``, where each gets its ``since``:
when that endpoint was first seen presenting that certificate) and a ``store.runs`` row of
kind ``probe``. Network trouble is a result, never an exception: the run always finishes.

    status, _real = endpoints_for(dep, "auto", lab_status)
    run = probe_deployment(store, dep, status, now=now)
    run.exit_code  # 0 every endpoint expected, 1 anything else
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.errors import InputError
from ccapki.pki.certs import (
    display_name,
    fingerprint,
    is_self_signed,
    issued_by,
    issuer_display_name,
)
from ccapki.pki.expiry import expiry_stamp, span_words
from ccapki.pki.keys import public_key_fingerprint
from ccapki.probe import ProbeResult, ProbeTarget, observe_many
from ccapki.probe.tls import sha256_hex
from ccapki.store.records import ProbeRecord, ProbeVerdict, StoredCA, StoredIdentity

if TYPE_CHECKING:
    from ccapki.lab import EndpointStatus, LabStatus
    from ccapki.lifecycle.verify import LiveTarget
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = [
    "Judgement",
    "Known",
    "ProbeChainDict",
    "ProbeEndpointDict",
    "ProbeRun",
    "ProbeRunDict",
    "classify",
    "classify_endpoint",
    "endpoints_for",
    "known_from_store",
    "probe_deployment",
    "probe_deployment_async",
    "select_endpoints",
]

#: failures where nothing answered (no TLS verdict at all)
_UNREACHABLE = frozenset({"refused", "timeout", "dns", "error"})
#: how close a certificate's validity must be to the release's temporary one to say so (days)
_TEMPORARY_SLACK = 2


# ---------------------------------------------------------------------------- the inventory


@dataclass(frozen=True)
class Known:
    """What the store holds for one deployment, as :func:`classify` needs it.

    ``identity_of``: appliance -> the identity it serves; ``peers``: identity -> its
    appliances (two for an HA pair, primary first); ``current``: identity -> its current
    version; ``older``: certificate fingerprint -> the (identity, version) pairs of the
    superseded versions holding it (those that matter: :func:`known_from_store` looks up
    only the certificates presented); ``cas``: the deployment's CAs; ``temporary_signer``
    / ``temporary_days``: who signs the release's install-time temporary certificate
    (``self`` or ``perfigo``) and for how long; ``release``: its number, for the reasons."""

    deployment: str
    identity_of: Mapping[str, str]
    peers: Mapping[str, tuple[str, ...]]
    current: Mapping[str, StoredIdentity]
    older: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    cas: tuple[StoredCA, ...] = ()
    temporary_signer: str = "self"
    temporary_days: int = 0
    release: str = ""

    @functools.cached_property
    def by_fingerprint(self) -> dict[str, StoredIdentity]:
        """Certificate fingerprint -> the current identity version holding it."""
        return {v.fingerprint: v for v in self.current.values()}


def known_from_store(
    store: Store, deployment: Deployment, presented: Sequence[bytes] = ()
) -> Known:
    """What ``store`` holds for ``deployment`` (the store acts on it: see
    :meth:`~ccapki.store.session.Store.scoped`): the current version of every identity;
    for the leaf certificates in ``presented`` (DER) that are none of those, the older
    versions holding them (looked up by their keys, in one query) and the CAs. Raises
    what the store raises (:class:`~ccapki.errors.StoreError`)."""
    identity_of: dict[str, str] = {}
    peers: dict[str, tuple[str, ...]] = {}
    held = store.identities.current()
    current: dict[str, StoredIdentity] = {}
    for spec in deployment.identities:
        names = tuple(m.name for m in spec.members)
        peers[spec.name] = names
        for n in names:
            identity_of.setdefault(n, spec.name)
        if spec.name in held:
            current[spec.name] = held[spec.name]
    fps = {v.fingerprint for v in current.values()}
    spkis = []
    for der in dict.fromkeys(presented):
        cert = _load(der)
        if cert is not None and sha256_hex(der) not in fps:
            spkis.append(public_key_fingerprint(cert.public_key()))
    older: dict[str, tuple[tuple[str, int], ...]] = {}
    cas: tuple[StoredCA, ...] = ()
    if spkis:
        for fp, holders in store.identities.versions_on_keys(spkis).items():
            if fp not in fps:
                older[fp] = tuple(holders)
        cas = tuple(store.cas.list())
    profile = deployment.profile
    return Known(
        deployment.name,
        identity_of,
        peers,
        current,
        older,
        cas,
        profile.temp_cert_signer,
        profile.temp_cert_days,
        str(deployment.release),
    )


@functools.lru_cache(maxsize=4096)
def _load(der: bytes) -> x509.Certificate | None:
    """``der`` parsed (None when it does not parse); an estate presents few distinct ones."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- classify


@dataclass(frozen=True)
class Judgement:
    """What an endpoint's probe shows: a verdict, why (one line), and the identity version
    whose certificate was presented (None when the store holds none of it).

    ``missing_intermediates``: the stored intermediates the presented chain lacks (names;
    empty: complete). The verdict stays ``expected`` (the right certificate), but clients
    that do not fetch a missing intermediate (Java on the appliances) fail: a finding.
    """

    verdict: ProbeVerdict
    reason: str
    identity: str | None = None
    version: int | None = None
    missing_intermediates: tuple[str, ...] = ()


def _date(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d")


def _expiry(cert: x509.Certificate, now: dt.datetime) -> str:
    end_at = cert.not_valid_after_utc
    end = expiry_stamp(end_at, now)
    if end_at < now:
        return f"expired {end} ({span_words(now - end_at)} ago)"
    return f"expires {end} ({span_words(end_at - now)})"


def _missing_intermediates(
    presented: Sequence[x509.Certificate], stored: StoredIdentity
) -> tuple[str, ...]:
    """The stored intermediates the presented chain lacks, by name (empty: none)."""
    have = {fingerprint(c) for c in presented[1:]}
    return tuple(
        display_name(c)
        for c in stored.chain
        if not is_self_signed(c) and fingerprint(c) not in have
    )


def _chain_note(missing: Sequence[str], identity: str) -> str:
    """What the presented chain lacks and what that breaks ("" when nothing)."""
    if not missing:
        return ""
    return (
        "; the chain sent lacks the intermediate " + ", ".join(missing) + ": clients that "
        "do not fetch it (Java on the appliances: the CAM/CAS links) cannot verify it; "
        f"install the full chain (`ccapki export {identity} --format pem-bundle`)"
    )


def _failure(result: ProbeResult) -> Judgement:
    kind = result.error_kind or "error"
    text = result.error or kind
    if result.attempts > 1:
        text += f" ({result.attempts} attempts)"
    if kind in _UNREACHABLE:
        return Judgement(ProbeVerdict.UNREACHABLE, text)
    if kind == "not-tls":
        return Judgement(ProbeVerdict.NOT_TLS, text)
    return Judgement(ProbeVerdict.HANDSHAKE, f"no certificate presented: {text}")


def _parse(chain_der: Sequence[bytes]) -> list[x509.Certificate] | None:
    certs = [_load(d) for d in chain_der]
    return [c for c in certs if c is not None] if all(certs) else None


def _validity_days(cert: x509.Certificate) -> int:
    return round((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400)


def _temporary_note(cert: x509.Certificate, signer: str, known: Known) -> str:
    days = _validity_days(cert)
    if (
        known.temporary_days
        and signer == known.temporary_signer
        and abs(days - known.temporary_days) <= _TEMPORARY_SLACK
    ):
        return f", {days} days as CCA {known.release}'s temporary certificate"
    return f", valid {days} days"


def classify_endpoint(
    appliance: str, result: ProbeResult, known: Known, *, now: dt.datetime
) -> Judgement:
    """What ``appliance``'s endpoint presented (``result``, from
    :func:`~ccapki.probe.observe_many`) is, held against ``known``: every verdict but
    ``ha-mismatch``, which needs both peers (:func:`classify`). Pure; never raises."""
    if not result.peer_chain_der:
        return _failure(result)
    fp = sha256_hex(result.peer_chain_der[0])
    certs = _parse(result.peer_chain_der)
    ident = known.identity_of.get(appliance)
    hit = known.by_fingerprint.get(fp)
    if hit is not None and hit.name == ident:
        missing = _missing_intermediates(certs, hit) if certs else ()
        return Judgement(
            ProbeVerdict.EXPECTED,
            f"{ident} v{hit.version}, {_expiry(hit.certificate, now)}"
            f"{_chain_note(missing, hit.name)}",
            ident,
            hit.version,
            missing,
        )
    holders = known.older.get(fp, ())
    mine = [h for h in holders if h[0] == ident]
    current = known.current.get(ident) if ident else None
    if mine and current is not None:
        version = mine[-1][1]
        return Judgement(
            ProbeVerdict.STALE,
            f"{ident} v{version}, superseded by v{current.version} of "
            f"{_date(current.created_at)}: install v{current.version} (`ccapki export {ident}`;"
            " the lab: `ccapki lab reload`)",
            ident,
            version,
        )
    other = (hit.name, hit.version) if hit is not None else holders[-1] if holders else None
    if other is not None:
        old = "" if hit is not None else " older"
        return Judgement(
            ProbeVerdict.UNKNOWN,
            f"presents {other[0]}'s{old} certificate (v{other[1]}), not "
            f"{ident or 'its own'}'s: the wrong certificate was installed",
            other[0],
            other[1],
        )
    if not certs:
        return Judgement(
            ProbeVerdict.UNKNOWN, f"presents a certificate that does not parse (SHA-256 {fp})"
        )
    leaf = certs[0]
    what = f"{display_name(leaf)} (SHA-256 {fp[:16]}…, {_expiry(leaf, now)})"
    for ca in known.cas:
        if ca.kind != "external" and issued_by(leaf, ca.certificate):
            return Judgement(
                ProbeVerdict.UNKNOWN,
                f"{what} is signed by this store's CA {ca.name}, but the store does not hold "
                "it: issued outside ccapki with the CA's key?",
            )
    fix = f"install {ident}'s certificate" if ident else "install the appliance's certificate"
    if is_self_signed(leaf):
        return Judgement(
            ProbeVerdict.TEMPORARY,
            f"self-signed {what}{_temporary_note(leaf, 'self', known)}, not a certificate "
            f"the store holds: the install-time temporary certificate is still in place "
            f"({fix})",
        )
    if "perfigo" in leaf.issuer.rfc4514_string().lower():
        return Judgement(
            ProbeVerdict.TEMPORARY,
            f"{what} signed by the Perfigo root ({issuer_display_name(leaf)})"
            f"{_temporary_note(leaf, 'perfigo', known)}: the install-time temporary "
            f"certificate is still in place ({fix})",
        )
    return Judgement(
        ProbeVerdict.UNKNOWN,
        f"{what} issued by {issuer_display_name(leaf)} is not a certificate the store "
        f"holds: installed by hand? (`ccapki import` it if it is yours, else {fix})",
    )


def classify(
    observed: Sequence[tuple[str, str, ProbeResult]], known: Known, *, now: dt.datetime
) -> list[Judgement]:
    """Judge every ``(appliance, kind, result)`` (see :func:`classify_endpoint`), then the
    HA pairs: where both peers' endpoints of one kind presented certificates and those
    differ, each peer not presenting the current certificate is ``ha-mismatch`` (its own
    finding kept in the reason). Returns the judgements in input order. Pure; never raises.
    """
    out = [classify_endpoint(a, r, known, now=now) for a, _, r in observed]
    where = {(a, k): i for i, (a, k, _) in enumerate(observed)}
    for ident, members in known.peers.items():
        if len(members) != 2:
            continue
        kinds = {k for a, k, _ in observed if a in members}
        for kind in sorted(kinds):
            idx = [where.get((m, kind)) for m in members]
            if idx[0] is None or idx[1] is None:
                continue
            pair = (idx[0], idx[1])
            if not all(out[i].verdict.served for i in pair):
                continue
            fps = [sha256_hex(observed[i][2].peer_chain_der[0]) for i in pair]
            if fps[0] == fps[1]:
                continue
            base = (out[pair[0]], out[pair[1]])
            for j, i in enumerate(pair):
                if base[j].verdict is ProbeVerdict.EXPECTED:
                    continue
                theirs = base[1 - j]
                said = (
                    f"the current {ident}"
                    if theirs.verdict is ProbeVerdict.EXPECTED
                    else f"another certificate ({theirs.verdict.value})"
                )
                out[i] = replace(
                    base[j],
                    verdict=ProbeVerdict.HA_MISMATCH,
                    reason=f"{base[j].verdict.value}: {base[j].reason}; its HA peer "
                    f"{members[1 - j]} presents {said} (SHA-256 {fps[1 - j][:16]}…): both "
                    "peers must serve the pair's one certificate",
                )
    return out


# ---------------------------------------------------------------------------- endpoints


def endpoints_for(
    deployment: Deployment, target: LiveTarget, lab: LabStatus | None
) -> tuple[LabStatus, bool] | None:
    """The endpoints to probe for ``deployment`` and whether they are real appliances':
    the ``endpoints = {...}`` its file gives when ``target`` is ``deployment`` (or ``auto``
    and the file gives any; possibly none), else those of ``lab`` (the running lab's
    status, None when none runs) that belong to the deployment's appliances. None when
    there is nothing to probe (no lab, or a lab serving another deployment)."""
    from ccapki.lifecycle.verify import real_endpoints_status, uses_real_endpoints

    if uses_real_endpoints(deployment, target):
        return real_endpoints_status(deployment), True
    if lab is None:
        return None
    names = {a.name for a in deployment.appliances}
    mine = tuple(e for e in lab.endpoints if e.appliance in names)
    if not mine:
        return None
    return replace(lab, endpoints=mine), False


def _parse_target(text: str) -> tuple[str, str | None]:
    name, sep, kind = text.partition(":")
    return name.strip(), (kind.strip() or None) if sep else None


def select_endpoints(
    plans: Sequence[tuple[Deployment, LabStatus]], targets: Sequence[str]
) -> list[tuple[Deployment, LabStatus]]:
    """``plans`` (deployment, its endpoints) narrowed to the endpoints ``targets`` name:
    an appliance name, an identity name (every appliance of it: both peers of an HA pair)
    or ``APPLIANCE:KIND`` (one endpoint: control, heartbeat, agent, web-login or gui). No
    targets: ``plans`` as they are. Deployments left without endpoints are dropped.

    Raises :class:`~ccapki.errors.InputError` for a target that names nothing there, or
    an appliance without endpoints (the hint lists what can be named).
    """
    if not targets:
        return list(plans)
    wanted: list[set[tuple[str, str | None]]] = [set() for _ in plans]
    for text in targets:
        name, kind = _parse_target(text)
        matched_name = False
        matched = False
        for i, (dep, status) in enumerate(plans):
            members = _members(dep, name)
            if not members:
                continue
            matched_name = True
            eps = [e for e in status.endpoints if e.appliance in members]
            if kind is not None:
                eps = [e for e in eps if e.kind == kind]
            if eps:
                matched = True
                wanted[i].update((e.appliance, e.kind) for e in eps)
        if matched:
            continue
        if not matched_name:
            raise InputError(
                f"no appliance or identity named {name!r} to probe", _target_choices(plans)
            )
        kinds = sorted(
            {
                e.kind
                for dep, status in plans
                for e in status.endpoints
                if e.appliance in _members(dep, name)
            }
        )
        if kind is not None and kinds:
            raise InputError(f"{name} has no {kind} endpoint", f"its endpoints: {', '.join(kinds)}")
        raise InputError(
            f"{name} has no endpoint to probe",
            'give it endpoints = { control = "host:port", ... } in the deployment file, '
            "or probe the lab (`ccapki lab up`, then `ccapki probe --target lab`)",
        )
    out = []
    for (dep, status), keep in zip(plans, wanted, strict=True):
        chosen = tuple(e for e in status.endpoints if (e.appliance, e.kind) in keep)
        if chosen:
            out.append((dep, replace(status, endpoints=chosen)))
    return out


def _members(dep: Deployment, name: str) -> set[str]:
    """The appliances ``name`` stands for in ``dep`` (an appliance, or an identity's)."""
    out: set[str] = set()
    for spec in dep.identities:
        if spec.name == name:
            out.update(m.name for m in spec.members)
        out.update(m.name for m in spec.members if m.name == name)
    return out


def _target_choices(plans: Sequence[tuple[Deployment, LabStatus]]) -> str:
    appliances: list[str] = []
    idents: list[str] = []
    kinds: set[str] = set()
    for dep, status in plans:
        with_eps = {e.appliance for e in status.endpoints}
        kinds.update(e.kind for e in status.endpoints)
        for spec in dep.identities:
            names = [m.name for m in spec.members if m.name in with_eps]
            appliances += [n for n in names if n not in appliances]
            if spec.ha and names and spec.name not in idents:
                idents.append(spec.name)
    text = "name an appliance (" + _some(appliances) + ")"
    if idents:
        text += ", an HA pair (" + _some(idents) + ")"
    return text + f", or APPLIANCE:KIND ({', '.join(sorted(kinds))})"


def _some(names: Sequence[str], shown: int = 12) -> str:
    """``a, b, c``; past ``shown`` names, the first ones and how many more."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ... {len(names) - shown} more"


# ---------------------------------------------------------------------------- the run


class ProbeChainDict(TypedDict):
    """One certificate of the chain an endpoint presented (``chain`` of
    :class:`ProbeEndpointDict`); times in ISO 8601."""

    subject: str
    issuer: str
    sha256: str
    not_after: str


class ProbeEndpointDict(TypedDict):
    """One endpoint of :meth:`ProbeRun.to_dict` (``ccapki probe --json``'s ``endpoints``)."""

    appliance: str
    kind: str
    address: str
    #: expected, stale, unknown, temporary, ha-mismatch, unreachable, not-tls, handshake-error
    verdict: str
    reason: str
    at: str
    since: str | None
    protocol: str | None
    latency_ms: int | None
    attempts: int
    identity: str | None
    version: int | None
    leaf_sha256: str | None
    chain: list[ProbeChainDict]
    #: judged for the expected certificate only (None: not judged)
    chain_complete: bool | None
    missing_intermediates: list[str]


class ProbeRunDict(TypedDict):
    """What :meth:`ProbeRun.to_dict` returns (one run of ``ccapki probe --json``)."""

    deployment: str
    started: str
    seconds: float
    exit_code: int
    counts: dict[str, int]
    incomplete_chains: int
    endpoints: list[ProbeEndpointDict]


@dataclass(frozen=True)
class ProbeRun:
    """One run of ``ccapki probe`` over a deployment: the kept results (with ``since``),
    when it started and how long it took (seconds). ``incomplete``: (appliance, kind) ->
    the intermediates its chain lacks, for the endpoints presenting an incomplete chain."""

    deployment: str
    records: tuple[ProbeRecord, ...]
    started: dt.datetime
    seconds: float
    attempts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    incomplete: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every endpoint presents its identity's current certificate with its
        whole chain, else 1."""
        fine = all(r.verdict is ProbeVerdict.EXPECTED for r in self.records)
        return 0 if fine and not self.incomplete else 1

    def needs_a_look(self, record: ProbeRecord) -> bool:
        """Whether ``record`` is a finding: not the expected certificate, or sent without
        its intermediate."""
        return record.verdict is not ProbeVerdict.EXPECTED or bool(
            self.incomplete.get((record.appliance, record.kind))
        )

    @property
    def counts(self) -> dict[str, int]:
        """verdict -> how many endpoints got it (only the verdicts seen)."""
        out: dict[str, int] = {}
        for r in self.records:
            out[r.verdict.value] = out.get(r.verdict.value, 0) + 1
        return out

    @property
    def summary(self) -> str:
        """``12 endpoints: 10 expected, 2 stale`` (``; 1 chain incomplete`` when so)."""
        n = len(self.records)
        parts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        if self.incomplete:
            parts += f"; {len(self.incomplete)} chain incomplete"
        return f"{n} endpoint{'' if n == 1 else 's'}: {parts}" if n else "no endpoint"

    def to_dict(self) -> ProbeRunDict:
        """JSON-ready: the run and every endpoint (the chain as subjects and fingerprints;
        the PEM is in the store), as :class:`ProbeRunDict` types it."""
        return {
            "deployment": self.deployment,
            "started": self.started.isoformat(),
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "counts": self.counts,
            "incomplete_chains": len(self.incomplete),
            "endpoints": [_record_dict(r, self.attempts, self.incomplete) for r in self.records],
        }


@functools.lru_cache(maxsize=1024)
def _chain_summary(chain_pem: str) -> tuple[tuple[str, str, str, str], ...]:
    return tuple(
        (
            c.subject.rfc4514_string(),
            c.issuer.rfc4514_string(),
            sha256_hex(c.public_bytes(serialization.Encoding.DER)),
            c.not_valid_after_utc.isoformat(),
        )
        for c in x509.load_pem_x509_certificates(chain_pem.encode())
    )


def _record_dict(
    r: ProbeRecord,
    attempts: Mapping[tuple[str, str], int],
    incomplete: Mapping[tuple[str, str], tuple[str, ...]],
) -> ProbeEndpointDict:
    chain = [
        ProbeChainDict(subject=s, issuer=i, sha256=h, not_after=n)
        for s, i, h, n in (_chain_summary(r.chain_pem) if r.chain_pem else ())
    ]
    missing = incomplete.get((r.appliance, r.kind), ())
    return {
        "appliance": r.appliance,
        "kind": r.kind,
        "address": r.address,
        "verdict": r.verdict.value,
        "reason": r.reason,
        "at": r.at.isoformat(),
        "since": r.since.isoformat() if r.since else None,
        "protocol": r.protocol,
        "latency_ms": r.latency_ms,
        "attempts": attempts.get((r.appliance, r.kind), 1),
        "identity": r.identity,
        "version": r.version,
        "leaf_sha256": r.leaf_sha256,
        "chain": chain,
        # judged for the expected certificate only (None: not judged)
        "chain_complete": not missing if r.verdict is ProbeVerdict.EXPECTED else None,
        "missing_intermediates": list(missing),
    }


def _target(e: EndpointStatus, timeout: float, retries: int) -> ProbeTarget:
    return ProbeTarget(
        e.host,
        e.port,
        server_name=e.server_name or None,
        purpose=e.kind,
        label=f"{e.appliance} {e.kind}",
        server=e.appliance,
        timeout=timeout,
        retries=retries,
        verify=False,
        confirm_seconds=0,
    )


@functools.lru_cache(maxsize=1024)
def _chain_pem(chain_der: tuple[bytes, ...]) -> str | None:
    """The chain as PEM text (None: nothing presented, or something that does not parse)."""
    certs = _parse(chain_der)
    if not chain_der or certs is None:
        return None
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _record(e: EndpointStatus, r: ProbeResult, j: Judgement, now: dt.datetime) -> ProbeRecord:
    answered = j.verdict is not ProbeVerdict.UNREACHABLE and r.handshake_seconds is not None
    pem = _chain_pem(r.peer_chain_der)  # None for a chain that does not parse
    return ProbeRecord(
        appliance=e.appliance,
        kind=e.kind,
        address=e.address,
        at=now,
        verdict=j.verdict,
        reason=j.reason,
        protocol=r.tls_version,
        leaf_sha256=sha256_hex(r.peer_chain_der[0]) if r.peer_chain_der else None,
        chain_pem=pem,
        identity=j.identity,
        version=j.version,
        latency_ms=round(r.handshake_seconds * 1000) if answered and r.handshake_seconds else None,
    )


def probe_deployment(
    store: Store,
    deployment: Deployment,
    endpoints: LabStatus,
    *,
    now: dt.datetime,
    concurrency: int = 256,
    timeout: float | None = None,
    retries: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ProbeRun:
    """Probe every endpoint of ``endpoints`` (see :func:`endpoints_for`), classify what
    each presents against what ``store`` holds for ``deployment``, keep the results
    (``store.probes``) and a ``store.runs`` row of kind ``probe``, and return the run.

    ``now`` stamps the results (the real clock: the handshakes run on it); ``timeout``:
    seconds per endpoint, all attempts together (None: the deployment file's
    ``[monitoring] probe_timeout``); ``retries``: more attempts for a failed connection;
    ``progress(done, total)`` is called as each endpoint finishes. Endpoints unreachable at
    the last run are probed first (their wait then overlaps the others' handshakes).

    Never raises for network or TLS trouble (each endpoint's is in its result). Raises
    :class:`~ccapki.errors.InputError` when there is no endpoint or a setting is out of
    range, and what the store raises. Runs its own event loop (see
    :func:`probe_deployment_async` inside one).
    """
    return asyncio.run(
        probe_deployment_async(
            store,
            deployment,
            endpoints,
            now=now,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            progress=progress,
        )
    )


async def probe_deployment_async(
    store: Store,
    deployment: Deployment,
    endpoints: LabStatus,
    *,
    now: dt.datetime,
    concurrency: int = 256,
    timeout: float | None = None,
    retries: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ProbeRun:
    """:func:`probe_deployment` for callers inside an event loop (same returns and raises;
    the store is read and written from the loop's thread)."""
    eps = endpoints.endpoints
    if not eps:
        raise InputError(
            f"deployment {deployment.name} has no endpoint to probe",
            'give endpoints = { control = "host:port", ... } per appliance in the deployment '
            "file, or start the lab (`ccapki lab up`)",
        )
    seconds = deployment.monitoring.probe_timeout if timeout is None else timeout
    if concurrency < 1 or not seconds > 0 or retries < 0:
        raise InputError(
            f"probe settings out of range (concurrency {concurrency}, timeout {seconds}, "
            f"retries {retries})",
            "concurrency at least 1, a positive timeout, retries 0 or more",
        )
    targets = [_target(e, seconds, retries) for e in eps]
    done = 0

    def tick(_: ProbeResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(targets))

    with store.scoped(deployment.name):
        run_id = store.runs.start("probe", f"{len(targets)} endpoints")
        ok = False
        summary = "interrupted"
        try:
            start = time.perf_counter()
            # endpoints that did not answer last time go first: their wait for the timeout
            # then overlaps the others' handshakes instead of coming after them
            slow = {
                (p.appliance, p.kind)
                for p in store.probes.latest()
                if p.verdict is ProbeVerdict.UNREACHABLE
            }
            order = sorted(
                range(len(eps)), key=lambda i: (eps[i].appliance, eps[i].kind) not in slow
            )
            done_in_order = await observe_many(
                [targets[i] for i in order], concurrency=concurrency, on_result=tick
            )
            by_index = dict(zip(order, done_in_order, strict=True))
            results = [by_index[i] for i in range(len(eps))]
            leaves = [r.peer_chain_der[0] for r in results if r.peer_chain_der]
            known = known_from_store(store, deployment, leaves)
            observed = [(e.appliance, e.kind, r) for e, r in zip(eps, results, strict=True)]
            judged = classify(observed, known, now=now)
            records = store.probes.add(
                [_record(e, r, j, now) for e, r, j in zip(eps, results, judged, strict=True)]
            )
            run = ProbeRun(
                deployment.name,
                tuple(records),
                now,
                time.perf_counter() - start,
                {(e.appliance, e.kind): r.attempts for e, r in zip(eps, results, strict=True)},
                {
                    (e.appliance, e.kind): j.missing_intermediates
                    for e, j in zip(eps, judged, strict=True)
                    if j.missing_intermediates
                },
            )
            ok, summary = True, run.summary
        except Exception as exc:
            summary = f"failed: {exc}"
            raise
        finally:
            try:
                store.runs.finish(run_id, ok=ok, summary=summary)
            except Exception:
                if ok:
                    raise
    return run
