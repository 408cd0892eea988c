"""Third-party CAs and certificate files: CSRs, imports, exports, HA checks, client roots.

The FAQ's pains handled here: "private key not found" (the key saved when the CSR was made is
kept sealed in the store, and a CSR never destroys an older pending key), "combine the
certificate and the private key in a single file and upload that" (``export pem-bundle``),
"install the same certificate on both devices in a HA pair" (``export --for-peer``,
``check-ha``), and which root clients must install (``export-roots``).
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.errors import InputError, KeyNotFoundError, NotFoundError
from ccapki.pki.certs import (
    covers,
    display_name,
    fingerprint,
    is_ca,
    is_self_signed,
    issued_by,
    subject_alt_names,
)
from ccapki.pki.chain import SortedChain, group_chains
from ccapki.pki.formats import Material
from ccapki.pki.issue import build_csr
from ccapki.pki.keys import generate_key, key_type_name, public_key_fingerprint
from ccapki.store.db import IdentityRecord, Store, StoredIdentity
from ccapki.topology.model import Deployment, IdentitySpec, Source
from ccapki.topology.plan import make_plan

__all__ = [
    "FitProblem",
    "ImportResult",
    "check_fit",
    "client_roots",
    "import_materials",
    "make_csrs",
    "public_roots",
]


# ---------------------------------------------------------------------------- CSRs


@dataclass(frozen=True)
class CsrResult:
    identity: str
    csr: x509.CertificateSigningRequest
    spki: str
    pending_before: int  # older pending keys kept for this identity

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
    """
    plan = make_plan(dep)
    store.unlock()
    out: list[CsrResult] = []
    with store.transaction():
        for name in names:
            p = plan.get(name)
            key = generate_key(p.spec.key_type)
            before = len(store.key_records(identity=p.name, state="pending"))
            spki = store.add_key(key, p.spec.key_type.value, p.name, "pending")
            csr = build_csr(p.request, key)
            store.add_csr(p.name, csr, spki)
            out.append(CsrResult(p.name, csr, spki, before))
        if deliver is not None:
            for result in out:
                deliver(result)
    return out


# ---------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class FitProblem:
    reason: str
    refuse: bool = True  # False: a warning only
    fix: str = ""  # what gets a certificate without this problem (for the refusal's hint)


def check_fit(cert: x509.Certificate, spec: IdentitySpec, now: dt.datetime) -> list[FitProblem]:
    """Why ``cert`` does not fit ``spec``: missing names, validity, key usage, EKU."""
    problems: list[FitProblem] = []
    missing = [n for n in (*spec.dns_names, *map(str, spec.ip_addresses)) if not covers(cert, n)]
    if missing:
        problems.append(
            FitProblem(
                f"names missing from the SANs: {', '.join(missing)}",
                fix=f"have the CA issue a certificate naming every SAN of `ccapki plan` (send "
                f"it the CSR of `ccapki csr {spec.name}`)",
            )
        )
    if now > cert.not_valid_after_utc:
        problems.append(
            FitProblem(
                f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                fix="have the CA renew the certificate",
            )
        )
    if now < cert.not_valid_before_utc:
        problems.append(
            FitProblem(
                f"not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                "(check the clock of this machine and of the CA)",
                fix="set the clocks right, or import it once it is valid",
            )
        )
    usage_fix = "have the CA issue a TLS server certificate (digitalSignature, not a CA)"
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            problems.append(
                FitProblem("keyUsage lacks digitalSignature (TLS needs it)", fix=usage_fix)
            )
        if ku.key_cert_sign:
            problems.append(
                FitProblem(
                    "keyUsage asserts keyCertSign: a CA certificate, not a leaf", fix=usage_fix
                )
            )
    except x509.ExtensionNotFound:
        pass
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    if eku and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        problems.append(
            FitProblem(
                "EKU lacks serverAuth: agents and browsers will refuse it",
                fix="have the CA issue it with serverAuth and clientAuth in its extended key usage",
            )
        )
    if eku and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        problems.append(
            FitProblem(
                "EKU lacks clientAuth: CAM/CAS mutual TLS needs it when the appliance connects "
                "as a client (`ccapki trust check` shows the links it breaks)",
                refuse=False,
            )
        )
    return problems


# ---------------------------------------------------------------------------- import


@dataclass(frozen=True)
class Imported:
    identity: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key_from: str  # "batch" | "store"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    """A certificate of the batch that the store already holds: nothing is done with it."""

    identity: str
    version: int  # the version holding this very certificate
    current: int  # the identity's current version

    def describe(self) -> str:
        note = "" if self.version == self.current else f" (the current version is v{self.current})"
        return f"{self.identity} v{self.version}{note}"


@dataclass(frozen=True)
class ImportResult:
    identities: tuple[Imported, ...]
    cas: tuple[str, ...]
    keys_kept: int
    warnings: tuple[str, ...] = field(default=())
    #: already in the store, left as they are: identities, CAs (names), keys (fingerprints)
    held: tuple[Held, ...] = ()
    held_cas: tuple[str, ...] = ()
    held_keys: tuple[str, ...] = ()
    #: what the files' parser noted (a BER PKCS#7 or PKCS#12 read leniently)
    notes: tuple[str, ...] = ()


@functools.cache
def public_roots() -> tuple[x509.Certificate, ...]:
    """The common OS root stores, approximated by the certifi bundle (Mozilla's roots)."""
    import certifi

    with warnings.catch_warnings():
        # a few long-trusted roots carry a negative serial; they are still roots
        warnings.simplefilter("ignore")
        return tuple(x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes()))


def _complete_chain(
    sc: SortedChain, known: Sequence[x509.Certificate]
) -> tuple[tuple[x509.Certificate, ...], x509.Name | None]:
    """Leaf-upward chain, completed from ``known`` CAs; and the still-missing issuer if any."""
    chain = list(sc.chain)
    top = chain[-1] if chain else sc.leaf
    for _ in range(8):
        if is_self_signed(top):
            return tuple(chain), None
        parent = next((c for c in known if issued_by(top, c)), None)
        if parent is None:
            return tuple(chain), top.issuer
        chain.append(parent)
        top = parent
    return tuple(chain), None


def _name_index(dep: Deployment) -> dict[str, IdentitySpec]:
    """Every DNS name and IP of the plan -> its identity (built once per import)."""
    index: dict[str, IdentitySpec] = {}
    for spec in dep.identities:
        for n in (*spec.dns_names, *(str(ip) for ip in spec.ip_addresses)):
            index.setdefault(n, spec)
    return index


def _identity_for(cert: x509.Certificate, index: dict[str, IdentitySpec]) -> IdentitySpec | None:
    """The identity whose names the certificate carries most (one lookup per name)."""
    sans = subject_alt_names(cert)
    votes: dict[str, int] = {}
    specs: dict[str, IdentitySpec] = {}
    for n in [*(sans.names if sans else ()), display_name(cert).lower()]:
        spec = index.get(n)
        if spec is not None:
            votes[spec.name] = votes.get(spec.name, 0) + 1
            specs[spec.name] = spec
    if not votes:
        return None
    return specs[max(votes, key=lambda k: votes[k])]


def _not_found(
    store: Store, cert: x509.Certificate, spki: str, spec: IdentitySpec | None, source: str
) -> KeyNotFoundError:
    pending = store.key_records(state="pending")
    lines = [
        f"{k['identity'] or '-'} made {k['created_at']:%Y-%m-%d %H:%M} key {k['fingerprint'][:16]}"
        for k in pending
    ]
    older = ""
    if spec is not None:
        csrs = store.csrs(spec.name)
        if csrs:
            older = (
                f"; {spec.name} has {len(csrs)} CSR(s) on record, the last from "
                f"{csrs[-1]['created_at']:%Y-%m-%d}, none with this key: the certificate answers "
                "a CSR made elsewhere (the appliance's own, or a key regenerated after the CSR)"
            )
    pend = "; pending keys: " + ", ".join(lines) if lines else "; no pending keys in the store"
    return KeyNotFoundError(
        f"private key not found for {source}: {display_name(cert)} has public key "
        f"{spki[:16]}...{pend}{older}",
        "import the key saved when the CSR was made (`ccapki import CERT --key KEYFILE`), "
        "or make a new CSR (`ccapki csr IDENTITY`) and have the CA issue again",
    )


def import_materials(
    store: Store,
    dep: Deployment,
    materials: Sequence[Material],
    now: dt.datetime,
    *,
    force: bool = False,
    identity: str | None = None,
) -> ImportResult:
    """Import a batch: whole or nothing. Certificates are matched to keys by fingerprint."""
    certs: list[x509.Certificate] = []
    batch_keys: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for m in materials:
        for c in m.certificates:
            certs.append(c)
            origin.setdefault(fingerprint(c), m.source)
        for k in m.keys:
            batch_keys.setdefault(public_key_fingerprint(k), k)
    if not certs and not batch_keys:
        raise InputError("nothing to import", "name certificate or key files")
    # de-duplicate certificates (the same CA in several files)
    uniq = {fingerprint(c): c for c in certs}
    chains = group_chains(uniq.values()) if uniq else []
    stored_keys = {k["fingerprint"]: k for k in store.key_records()}
    held_versions = store.certificate_versions(
        [public_key_fingerprint(sc.leaf.public_key()) for sc in chains if not is_ca(sc.leaf)]
    )
    held: list[Held] = []
    names = _name_index(dep)
    known_cas = [c.certificate for c in store.cas()]
    ca_pool = [c for c in uniq.values() if is_ca(c)] + known_cas
    imported: list[Imported] = []
    ca_imports: list[x509.Certificate] = []
    records: list[IdentityRecord] = []
    used_batch: set[str] = set()
    refusals: list[str] = []
    fixes: list[str] = []
    for sc in chains:
        leaf = sc.leaf
        src = origin.get(fingerprint(leaf), "import")
        if is_ca(leaf):
            ca_imports += [c for c in sc.certificates if is_ca(c)]
            continue
        spki = public_key_fingerprint(leaf.public_key())
        spec = dep.identity(identity) if identity else _identity_for(leaf, names)
        if spec is None:
            stored = stored_keys.get(spki)
            if stored and stored["identity"]:
                spec = dep.identity(stored["identity"])
        already = _held(store, held_versions, leaf, spec)
        if already is not None:
            held.append(already)
            used_batch.add(spki)  # its key is the store's already
            continue
        # a key the store holds is used as it is, even when the batch carries it again
        key_from = "store" if spki in stored_keys else ("batch" if spki in batch_keys else "")
        if not key_from:
            raise _not_found(store, leaf, spki, spec, src)
        if spec is None:
            raise InputError(
                f"{src}: {display_name(leaf)} names no identity of deployment {dep.name}",
                "say which identity it is for with --identity NAME",
            )
        chain, missing = _complete_chain(sc, [*ca_pool, *public_roots()])
        problems = check_fit(leaf, spec, now)
        if missing is not None:
            problems.append(
                FitProblem(
                    f"the chain is incomplete: no certificate of issuer "
                    f"{missing.rfc4514_string()} (the missing intermediate or root)",
                    fix="import the CA's intermediate and root files together with the certificate",
                )
            )
        hard = [p for p in problems if p.refuse]
        if hard and not force:
            refusals.append(f"{src} for {spec.name}: " + "; ".join(p.reason for p in hard))
            fixes += [p.fix for p in hard if p.fix]
            continue
        warnings = tuple(p.reason for p in problems if not p.refuse or force)
        imported.append(Imported(spec.name, leaf, chain, key_from, warnings))
        if key_from == "batch":
            used_batch.add(spki)
        records.append(
            IdentityRecord(
                identity=spec.name,
                key=batch_keys.get(spki) if key_from == "batch" else None,
                key_type=key_type_name(leaf.public_key()),  # what the key is, not the plan's
                certificate=leaf,
                chain=tuple(c for c in chain),
                source=Source.THIRD_PARTY.value
                if spec.source is Source.THIRD_PARTY or not _ours(leaf, known_cas)
                else spec.source.value,
            )
        )
    if refusals:
        raise InputError(
            "refused (nothing was imported): " + " | ".join(refusals),
            "; ".join([*dict.fromkeys(fixes), "or import anyway with --force"]),
        )
    store.unlock()
    kept = 0
    with store.transaction():
        store.add_issued(records)
        store.set_key_state(
            [
                public_key_fingerprint(r.certificate.public_key())
                for r in imported
                if r.key_from == "store"
            ],
            "active",
        )
        held_keys: list[str] = []
        for spki, key in batch_keys.items():
            if spki in used_batch:
                continue
            if spki in stored_keys:
                held_keys.append(spki)
                continue
            # a key with no certificate yet: keep it (never lose a key), as what it is
            store.add_key(key, key_type_name(key), None, "pending")
            kept += 1
        known_names = {c.fingerprint: c.name for c in store.cas()}
        ca_names = []
        held_cas: list[str] = []
        for fp, ca in {fingerprint(c): c for c in ca_imports}.items():
            if fp in known_names:
                held_cas.append(known_names[fp])
            else:
                store.add_ca(display_name(ca), "external", ca, None)
                ca_names.append(display_name(ca))
    return ImportResult(
        tuple(imported),
        tuple(ca_names),
        kept,
        held=tuple(held),
        held_cas=tuple(held_cas),
        held_keys=tuple(held_keys),
        notes=tuple(dict.fromkeys(n for m in materials for n in m.notes)),
    )


def _held(
    store: Store,
    versions: dict[str, list[tuple[str, int]]],
    leaf: x509.Certificate,
    spec: IdentitySpec | None,
) -> Held | None:
    """The version of ``spec`` (or of any identity, when none is known) holding ``leaf``."""
    found = versions.get(fingerprint(leaf), [])
    if spec is not None:
        found = [f for f in found if f[0] == spec.name]
    if not found:
        return None
    name, version = found[-1]
    current = store.current_identity(name)
    return Held(name, version, current.version if current is not None else version)


def _ours(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> bool:
    return any(issued_by(cert, ca) for ca in cas) or is_self_signed(cert)


# ---------------------------------------------------------------------------- exports


def identity_material(store: Store, name: str) -> tuple[StoredIdentity, Any]:
    """The current certificate of ``name`` and its private key (unsealed in memory)."""
    ident = store.current_identity(name)
    if ident is None:
        raise NotFoundError(
            f"identity {name!r} has no certificate in the store",
            "run `ccapki apply` (or `ccapki import` for a third-party certificate) first",
        )
    return ident, store.private_key(ident.spki)


# ---------------------------------------------------------------------------- HA


@dataclass(frozen=True)
class HaCheck:
    item: str
    ok: bool
    detail: str
    peers: tuple[str, ...] = ()  # the peers it fails on: "primary", "secondary"


def check_ha_pair(
    spec: IdentitySpec,
    primary: tuple[x509.Certificate, Any],
    secondary: tuple[x509.Certificate, Any],
    now: dt.datetime,
) -> list[HaCheck]:
    """Both peers on one identity, naming the Service IP and both peers, fit for the heartbeat.

    Names, validity and key usage are checked on each peer's certificate: a secondary holding
    another pair's certificate (or an expired or unfit one) fails the row, which names it.
    """
    (pc, pk), (sc, sk) = primary, secondary
    out: list[HaCheck] = []
    same_cert = fingerprint(pc) == fingerprint(sc)
    out.append(
        HaCheck(
            "same certificate on both peers",
            same_cert,
            "identical"
            if same_cert
            else f"primary {fingerprint(pc)[:16]} vs secondary "
            f"{fingerprint(sc)[:16]}: export the primary's with "
            f"`ccapki export {spec.name} --for-peer` and install it on the secondary",
            () if same_cert else ("secondary",),
        )
    )
    for label, cert, key in (("primary", pc, pk), ("secondary", sc, sk)):
        if key is None:
            out.append(
                HaCheck(f"{label} key matches its certificate", False, "no private key", (label,))
            )
            continue
        match = public_key_fingerprint(key) == public_key_fingerprint(cert.public_key())
        out.append(
            HaCheck(
                f"{label} key matches its certificate",
                match,
                "yes" if match else "the key belongs to another certificate",
                () if match else (label,),
            )
        )
    same_key = (
        pk is not None
        and sk is not None
        and (public_key_fingerprint(pk) == public_key_fingerprint(sk))
    )
    out.append(
        HaCheck(
            "same private key on both peers",
            same_key,
            "yes" if same_key else "no",
            () if same_key else ("secondary",),
        )
    )
    peers = (("primary", pc), ("secondary", sc))
    need = [*spec.dns_names, *(str(i) for i in spec.ip_addresses)]
    missing: dict[str, list[str]] = {}
    for label, cert in peers:
        missing[label] = [n for n in need if not covers(cert, n)]
    out.append(
        _peer_row(
            "names the Service IP, virtual hostname and both peers",
            {
                label: f"{display_name(cert)} lacks {', '.join(missing[label])}"
                if missing[label]
                else None
                for label, cert in peers
            },
            same_cert,
            "all present" if same_cert else "all present on both peers",
            f"missing: {', '.join(missing['primary'])}",
        )
    )
    spans = {
        label: f"{c.not_valid_before_utc:%Y-%m-%d} -> {c.not_valid_after_utc:%Y-%m-%d}"
        for label, c in peers
    }
    invalid: dict[str, str | None] = {}
    for label, c in peers:
        if now > c.not_valid_after_utc:
            invalid[label] = f"{spans[label]}, expired"
        elif now < c.not_valid_before_utc:
            invalid[label] = f"{spans[label]}, not valid yet (check the clocks)"
        else:
            invalid[label] = None
    out.append(
        _peer_row(
            "valid now (the IPsec heartbeat fails on an expired certificate)",
            invalid,
            same_cert,
            spans["primary"]
            if same_cert
            else f"primary {spans['primary']}, secondary {spans['secondary']}",
            invalid["primary"] or "",
        )
    )
    unfit: dict[str, list[str]] = {}
    for label, c in peers:
        unfit[label] = [  # names and validity are checked above: key usage and EKU here
            p.reason
            for p in check_fit(c, spec, now)
            if "SAN" not in p.reason and "valid" not in p.reason and "expired" not in p.reason
        ]
    out.append(
        _peer_row(
            "key usage fit for the heartbeat (digitalSignature, serverAuth + clientAuth)",
            {label: "; ".join(unfit[label]) or None for label, _ in peers},
            same_cert,
            "yes" if same_cert else "yes, on both peers",
            "; ".join(unfit["primary"]),
        )
    )
    return out


def _peer_row(
    item: str, problems: dict[str, str | None], same_cert: bool, fine: str, same_problem: str
) -> HaCheck:
    """One row checked on each peer: ``problems`` peer -> what is wrong (None: fine).

    With one certificate on both peers the row reads as for one certificate (``fine`` or
    ``same_problem``); otherwise it names each failing peer.
    """
    failing = tuple(label for label in ("primary", "secondary") if problems.get(label))
    if not failing:
        return HaCheck(item, True, fine)
    if same_cert:
        return HaCheck(item, False, same_problem, failing)
    return HaCheck(item, False, "; ".join(f"{p}: {problems[p]}" for p in failing), failing)


# ---------------------------------------------------------------------------- client roots


@dataclass(frozen=True)
class ClientRoot:
    certificate: x509.Certificate
    identities: tuple[str, ...]
    public: bool  # in the common OS stores: no client action needed
    self_signed_leaf: bool


def client_roots(store: Store) -> list[ClientRoot]:
    """The roots clients need, one per distinct anchor, with the identities behind each."""
    public_fps = {fingerprint(c) for c in public_roots()}
    by_fp: dict[str, tuple[x509.Certificate, list[str], bool]] = {}
    for name, ident in sorted(store.current_identities().items()):
        anchor = ident.chain[-1] if ident.chain else ident.certificate
        fp = fingerprint(anchor)
        entry = by_fp.setdefault(fp, (anchor, [], not ident.chain))
        entry[1].append(name)
    out = []
    for fp, (cert, names, leaf) in by_fp.items():
        out.append(ClientRoot(cert, tuple(names), fp in public_fps, leaf))
    return out
