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
import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.errors import InputError, KeyNotFoundError, NotFoundError
from ccapki.pki.chain import SortedChain, group_chains, is_ca, is_self_signed, issued_by
from ccapki.pki.formats import Material
from ccapki.pki.inspect import common_name
from ccapki.pki.issue import build_csr
from ccapki.pki.keys import generate_key, public_key_fingerprint
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


def make_csrs(store: Store, dep: Deployment, names: Sequence[str]) -> list[CsrResult]:
    """A new key (sealed, pending) and a CSR for each named identity. Old pending keys stay."""
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
    return out


# ---------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class FitProblem:
    reason: str
    refuse: bool = True  # False: a warning only


def _sans(cert: x509.Certificate) -> tuple[set[str], set[Any]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    return dns, set(san.get_values_for_type(x509.IPAddress))


def _covers(dns: set[str], name: str) -> bool:
    if name in dns:
        return True
    _, _, rest = name.partition(".")
    return f"*.{rest}" in dns if rest else False


def check_fit(cert: x509.Certificate, spec: IdentitySpec, now: dt.datetime) -> list[FitProblem]:
    """Why ``cert`` does not fit ``spec``: missing names, validity, key usage, EKU."""
    problems: list[FitProblem] = []
    dns, ips = _sans(cert)
    missing = [n for n in spec.dns_names if not _covers(dns, n)]
    missing += [str(i) for i in spec.ip_addresses if i not in ips]
    if missing:
        problems.append(FitProblem(f"names missing from the SANs: {', '.join(missing)}"))
    if now > cert.not_valid_after_utc:
        problems.append(FitProblem(f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"))
    if now < cert.not_valid_before_utc:
        problems.append(
            FitProblem(
                f"not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                "(check the clock of this machine and of the CA)"
            )
        )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            problems.append(FitProblem("keyUsage lacks digitalSignature (TLS needs it)"))
        if ku.key_cert_sign:
            problems.append(
                FitProblem("keyUsage asserts keyCertSign: a CA certificate, not a leaf")
            )
    except x509.ExtensionNotFound:
        pass
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    if eku and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        problems.append(FitProblem("EKU lacks serverAuth: agents and browsers will refuse it"))
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
class ImportResult:
    identities: tuple[Imported, ...]
    cas: tuple[str, ...]
    keys_kept: int
    warnings: tuple[str, ...] = field(default=())


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
    dns, ips = _sans(cert)
    votes: dict[str, int] = {}
    specs: dict[str, IdentitySpec] = {}
    for n in [*dns, *(str(i) for i in ips), common_name(cert.subject).lower()]:
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
        f"private key not found for {source}: {common_name(cert.subject)} has public key "
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
            origin.setdefault(c.fingerprint(_SHA256()).hex(), m.source)
        for k in m.keys:
            batch_keys.setdefault(public_key_fingerprint(k), k)
    if not certs and not batch_keys:
        raise InputError("nothing to import", "name certificate or key files")
    # de-duplicate certificates (the same CA in several files)
    uniq = {c.fingerprint(_SHA256()).hex(): c for c in certs}
    chains = group_chains(uniq.values()) if uniq else []
    stored_keys = {k["fingerprint"]: k for k in store.key_records()}
    names = _name_index(dep)
    known_cas = [c.certificate for c in store.cas()]
    ca_pool = [c for c in uniq.values() if is_ca(c)] + known_cas
    imported: list[Imported] = []
    ca_imports: list[x509.Certificate] = []
    records: list[IdentityRecord] = []
    used_batch: set[str] = set()
    refusals: list[str] = []
    for sc in chains:
        leaf = sc.leaf
        src = origin.get(leaf.fingerprint(_SHA256()).hex(), "import")
        if is_ca(leaf):
            ca_imports += [c for c in sc.certificates if is_ca(c)]
            continue
        spki = public_key_fingerprint(leaf.public_key())
        spec = dep.identity(identity) if identity else _identity_for(leaf, names)
        key_from = "batch" if spki in batch_keys else ("store" if spki in stored_keys else "")
        if not key_from:
            raise _not_found(store, leaf, spki, spec, src)
        if spec is None:
            stored = stored_keys.get(spki)
            if stored and stored["identity"]:
                spec = dep.identity(stored["identity"])
        if spec is None:
            raise InputError(
                f"{src}: {common_name(leaf.subject)} names no identity of deployment {dep.name}",
                "say which identity it is for with --identity NAME",
            )
        chain, missing = _complete_chain(sc, [*ca_pool, *public_roots()])
        problems = check_fit(leaf, spec, now)
        if missing is not None:
            problems.append(
                FitProblem(
                    f"the chain is incomplete: no certificate of issuer "
                    f"{missing.rfc4514_string()} (the missing intermediate or root)"
                )
            )
        hard = [p.reason for p in problems if p.refuse]
        if hard and not force:
            refusals.append(f"{src} for {spec.name}: " + "; ".join(hard))
            continue
        warnings = tuple(p.reason for p in problems if not p.refuse or force)
        imported.append(Imported(spec.name, leaf, chain, key_from, warnings))
        if key_from == "batch":
            used_batch.add(spki)
        records.append(
            IdentityRecord(
                identity=spec.name,
                key=batch_keys.get(spki) if key_from == "batch" else None,
                key_type=spec.key_type.value,
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
            "import the CA's intermediate and root files together with the certificate; get "
            "one that names every SAN of `ccapki plan`, is valid now and has serverAuth; or "
            "import anyway with --force",
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
        for spki, key in batch_keys.items():
            if spki not in used_batch and spki not in stored_keys:
                # a key with no certificate yet: keep it (never lose a key)
                store.add_key(key, "imported", None, "pending")
                kept += 1
        known_fps = {c.fingerprint(_SHA256()).hex() for c in known_cas}
        ca_names = []
        for ca in {c.fingerprint(_SHA256()).hex(): c for c in ca_imports}.values():
            if ca.fingerprint(_SHA256()).hex() not in known_fps:
                store.add_ca(common_name(ca.subject), "external", ca, None)
                ca_names.append(common_name(ca.subject))
    return ImportResult(tuple(imported), tuple(ca_names), kept)


def _SHA256() -> hashes.SHA256:
    return hashes.SHA256()


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


def check_ha_pair(
    spec: IdentitySpec,
    primary: tuple[x509.Certificate, Any],
    secondary: tuple[x509.Certificate, Any],
    now: dt.datetime,
) -> list[HaCheck]:
    """Both peers on one identity, naming the Service IP and both peers, fit for the heartbeat."""
    (pc, pk), (sc, sk) = primary, secondary
    out: list[HaCheck] = []
    same_cert = pc.fingerprint(_SHA256()) == sc.fingerprint(_SHA256())
    out.append(
        HaCheck(
            "same certificate on both peers",
            same_cert,
            "identical"
            if same_cert
            else f"primary {pc.fingerprint(_SHA256()).hex()[:16]} vs secondary "
            f"{sc.fingerprint(_SHA256()).hex()[:16]}: export the primary's with "
            f"`ccapki export {spec.name} --for-peer` and install it on the secondary",
        )
    )
    for label, cert, key in (("primary", pc, pk), ("secondary", sc, sk)):
        if key is None:
            out.append(HaCheck(f"{label} key matches its certificate", False, "no private key"))
            continue
        match = public_key_fingerprint(key) == public_key_fingerprint(cert.public_key())
        out.append(
            HaCheck(
                f"{label} key matches its certificate",
                match,
                "yes" if match else "the key belongs to another certificate",
            )
        )
    same_key = (
        pk is not None
        and sk is not None
        and (public_key_fingerprint(pk) == public_key_fingerprint(sk))
    )
    out.append(HaCheck("same private key on both peers", same_key, "yes" if same_key else "no"))
    dns, ips = _sans(pc)
    need = [*spec.dns_names, *(str(i) for i in spec.ip_addresses)]
    missing = [n for n in need if not (_covers(dns, n) or _is_ip_in(n, ips))]
    out.append(
        HaCheck(
            "names the Service IP, virtual hostname and both peers",
            not missing,
            "all present" if not missing else f"missing: {', '.join(missing)}",
        )
    )
    valid = pc.not_valid_before_utc <= now <= pc.not_valid_after_utc
    out.append(
        HaCheck(
            "valid now (the IPsec heartbeat fails on an expired certificate)",
            valid,
            f"{pc.not_valid_before_utc:%Y-%m-%d} -> {pc.not_valid_after_utc:%Y-%m-%d}",
        )
    )
    fit = [  # names and validity are checked above: only key usage and EKU here
        p.reason
        for p in check_fit(pc, spec, now)
        if "SAN" not in p.reason and "valid" not in p.reason and "expired" not in p.reason
    ]
    out.append(
        HaCheck(
            "key usage fit for the heartbeat (digitalSignature, serverAuth + clientAuth)",
            not fit,
            "; ".join(fit) or "yes",
        )
    )
    return out


def _is_ip_in(text: str, ips: set[Any]) -> bool:
    try:
        return ipaddress.ip_address(text) in ips
    except ValueError:
        return False


# ---------------------------------------------------------------------------- client roots


@dataclass(frozen=True)
class ClientRoot:
    certificate: x509.Certificate
    identities: tuple[str, ...]
    public: bool  # in the common OS stores: no client action needed
    self_signed_leaf: bool


def client_roots(store: Store) -> list[ClientRoot]:
    """The roots clients need, one per distinct anchor, with the identities behind each."""
    public_fps = {c.fingerprint(_SHA256()) for c in public_roots()}
    by_fp: dict[bytes, tuple[x509.Certificate, list[str], bool]] = {}
    for name, ident in sorted(store.current_identities().items()):
        anchor = ident.chain[-1] if ident.chain else ident.certificate
        fp = anchor.fingerprint(_SHA256())
        entry = by_fp.setdefault(fp, (anchor, [], not ident.chain))
        entry[1].append(name)
    out = []
    for fp, (cert, names, leaf) in by_fp.items():
        out.append(ClientRoot(cert, tuple(names), fp in public_fps, leaf))
    return out
