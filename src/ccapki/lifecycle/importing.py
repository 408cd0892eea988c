"""Importing what a CA sent back: certificates matched to keys, checked against the plan.

Two steps, so the decisions can be tested without a database:

- :func:`plan_import` (pure): the batch, the deployment and :class:`Known` (what the store
  holds) -> an :class:`ImportPlan`, or an error naming what is wrong. Whole or nothing: one
  refused certificate refuses the batch.
- :func:`store_import`: writes a plan in one transaction -> :class:`ImportResult`.

:func:`load_known` reads what a batch needs from the store; :func:`import_materials` runs
all three. The FAQ's "private key not found" is answered here: a certificate is matched to
its key by public-key fingerprint, whichever pending key (or file) holds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cryptography import x509

from ccapki.errors import InputError, KeyNotFoundError
from ccapki.lifecycle.adopted import IMPORT_ACTION, adopted_identities
from ccapki.lifecycle.certfiles import check_fit, plan_names, public_roots
from ccapki.pki.certs import (
    display_name,
    fingerprint,
    is_ca,
    is_self_signed,
    issued_by,
    subject_alt_names,
)
from ccapki.pki.chain import SortedChain, group_chains
from ccapki.pki.formats import Material, PrivateKey, require_certificates
from ccapki.pki.keys import key_type_name, public_key_fingerprint
from ccapki.store.records import CsrRecord, IdentityRecord, KeyRecord, KeyState, StoredCA
from ccapki.topology.model import Deployment, IdentitySpec, Source
from ccapki.trust import Finding, incomplete_chain

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = [
    "IMPORT_ACTION",
    "Held",
    "ImportPlan",
    "ImportResult",
    "Imported",
    "Known",
    "adopted_identities",
    "import_materials",
    "load_known",
    "plan_import",
    "source_warning",
    "store_import",
]


@dataclass(frozen=True)
class Imported:
    """A certificate imported as a new version of ``identity``."""

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
    """What an import did."""

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
    #: the CA certificates kept (``cas`` names them)
    ca_certificates: tuple[x509.Certificate, ...] = ()
    #: CA certificates of the batch not kept: "NAME (in no certificate's chain)"
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Known:
    """What the store holds that an import decides on (read by :func:`load_known`)."""

    #: every key record, by public-key fingerprint
    keys: Mapping[str, KeyRecord]
    #: certificate fingerprint -> every (identity, version) holding it (the batch's leaves)
    versions: Mapping[str, Sequence[tuple[str, int]]]
    #: identity -> its current version (the identities named in ``versions``)
    current: Mapping[str, int]
    cas: Sequence[StoredCA]
    #: identity -> when each of its CSRs was made, oldest first
    csr_dates: Mapping[str, Sequence[dt.datetime]] = field(default_factory=dict)
    #: the CA certificates of stored identities' chains (an outside CA's intermediate and
    #: root imported with an earlier certificate): a chain is completed from them too
    chain_cas: Sequence[x509.Certificate] = ()
    #: the newest CSR the store made on each key, by its public-key fingerprint: the
    #: certificate a CA returns for it is checked against what the file asks for now
    csrs: Mapping[str, CsrRecord] = field(default_factory=dict)
    #: identity -> (its current version, when the CSR its current certificate answers was
    #: made), for the identities a batch's leaves have CSRs of: the answer to an older CSR
    #: than that, arriving late, would replace a newer certificate
    current_csr: Mapping[str, tuple[int, dt.datetime]] = field(default_factory=dict)
    #: when each retired key of the batch's certificates was retired (``ccapki keys
    #: retire``), by its public-key fingerprint; None: the audit log does not say
    retired: Mapping[str, dt.datetime | None] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Known:
        """An empty store."""
        return cls({}, {}, {}, ())


@dataclass(frozen=True)
class ImportPlan:
    """The decisions of :func:`plan_import`, for :func:`store_import` to write."""

    imported: tuple[Imported, ...]
    records: tuple[IdentityRecord, ...]
    #: stored (pending) keys that now have their certificate
    activate: tuple[str, ...]
    #: keys of the batch with no certificate yet: kept, pending (never lose a key)
    new_keys: tuple[PrivateKey, ...]
    #: CA certificates the store does not hold yet
    new_cas: tuple[x509.Certificate, ...]
    held: tuple[Held, ...] = ()
    held_cas: tuple[str, ...] = ()
    held_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: CA certificates of the batch not kept: in a file with identity certificates, on
    #: none's chain (an unrelated CA sent along): "NAME (in no certificate's chain)"
    ignored: tuple[str, ...] = ()
    #: (identity, certificate fingerprint) of the certificates ``force`` took although
    #: their fit check refused them: their names are marked not checked in the store
    #: (``status`` reads them, as it reads those whose names the file changed since)
    unchecked: tuple[tuple[str, str], ...] = ()
    #: (identity, key fingerprint) of the retired keys ``force`` made active again (a CA's
    #: answer to a CSR given up with ``ccapki keys retire``): audited as revived
    revived: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------- reading


def load_known(store: Store, materials: Sequence[Material]) -> Known:
    """What the store holds that importing ``materials`` decides on. Reads only.

    Returns the :class:`Known` for :func:`plan_import`; raises :class:`StoreError` when the
    database cannot be read.
    """
    spkis = [
        public_key_fingerprint(c.public_key())
        for m in materials
        for c in m.certificates
        if not is_ca(c) or is_self_signed(c)  # an appliance's own (CCA 4.7+) may be CA:TRUE
    ]
    versions = store.identities.versions_on_keys(spkis)
    current: dict[str, int] = {}
    for name in dict.fromkeys(n for found in versions.values() for n, _ in found):
        ident = store.identities.get(name)
        if ident is not None:
            current[name] = ident.version
    csr_dates: dict[str, list[dt.datetime]] = {}
    csrs: dict[str, CsrRecord] = {}
    wanted = set(spkis)
    every = store.csrs.list()
    for csr in every:
        csr_dates.setdefault(csr.identity, []).append(csr.created_at)
        if csr.spki in wanted:
            csrs[csr.spki] = csr  # oldest first: the newest stays
    # a late answer needs two CSRs of one identity: its own and the current one's
    twice = {c.identity for c in csrs.values() if len(csr_dates[c.identity]) > 1}
    of: dict[str, list[CsrRecord]] = {}
    for csr in every if twice else ():
        if csr.identity in twice:
            of.setdefault(csr.identity, []).append(csr)
    current_csr: dict[str, tuple[int, dt.datetime]] = {}
    for name, made_of in of.items():
        ident = store.identities.get(name)
        if ident is None:
            continue
        made = [
            c.created_at
            for c in made_of
            if c.spki == ident.spki and c.created_at <= ident.created_at
        ]
        if made:  # the newest CSR on the current key made before its certificate came
            current_csr[name] = (ident.version, made[-1])
    keys = {k.fingerprint: k for k in store.keys.list()}
    return Known(
        keys=keys,
        versions=versions,
        current=current,
        cas=tuple(store.cas.list()),
        csr_dates=csr_dates,
        chain_cas=store.identities.chain_certificates(),
        csrs=csrs,
        current_csr=current_csr,
        retired=_retired_on(store, [s for s in wanted if s in keys], keys),
    )


def _retired_on(
    store: Store, spkis: Sequence[str], keys: Mapping[str, KeyRecord]
) -> dict[str, dt.datetime | None]:
    """When each retired key among ``spkis`` was retired: its ``key-retire`` audit row's
    time (the newest), None when the log has none. Reads the log only when one is."""
    import json

    from ccapki.store.records import stored_time

    retired = {s for s in spkis if keys[s].state is KeyState.RETIRED}
    if not retired:
        return {}
    out: dict[str, dt.datetime | None] = dict.fromkeys(retired)
    for at, detail in store.rows(
        "SELECT at, detail FROM audit WHERE action = 'key-retire' AND deployment = :d ORDER BY id",
        {"d": store.deployment},
    ):
        try:
            fp = json.loads(detail).get("fingerprint")
        except (ValueError, AttributeError):
            continue
        if fp in out:
            out[fp] = stored_time(at)
    return out


# ---------------------------------------------------------------------------- deciding


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


def _namesake(finding: Finding, missing: x509.Name, known: Sequence[x509.Certificate]) -> Finding:
    """``finding`` (an incomplete chain) saying so when a known CA bears the missing
    issuer's name but did not sign: another CA of the same name (another store's internal
    CA for the same deployment file, or a CA made again), not a file left out."""
    if not any(c.subject == missing for c in known):
        return finding
    return replace(
        finding,
        reason=f"{finding.reason}: the CA of that name here did not sign it (another CA "
        "with the same name: another ccapki store's, or one made again)",
        fix="import the CA certificates that came with it (the CA that signed it), or "
        "issue it again from this store",
    )


def source_warning(identity: str, source: Source) -> str:
    """The warning for an outside CA's certificate (or its CSR) for an identity the
    deployment file gives another ``source``: ``apply`` would replace it. Returns the text."""
    return (
        f'{identity} is source = "{source}" in the deployment file: the next `ccapki apply` '
        "replaces the outside CA's certificate with one it issues; to keep it, set "
        f'source = "third-party" for {identity} in the file'
    )


def _name_index(dep: Deployment) -> dict[str, IdentitySpec]:
    """Every DNS name and IP of the plan -> its identity (built once per import)."""
    index: dict[str, IdentitySpec] = {}
    for spec in dep.identities:
        for n in plan_names(spec):
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
    known: Known, cert: x509.Certificate, spki: str, spec: IdentitySpec | None, source: str
) -> KeyNotFoundError:
    """The FAQ's "private key not found", naming the pending keys and CSRs on record; for
    an appliance's own self-signed certificate (adopting an estate, its key not exported),
    what ccapki can and cannot do for it."""
    if spec is not None and is_self_signed(cert) and spec.source is not Source.THIRD_PARTY:
        return KeyNotFoundError(
            f"private key not found for {source}: {display_name(cert)} is {spec.name}'s own "
            f"self-signed certificate (public key {spki[:16]}...), given without its key: "
            "ccapki keeps no identity without its key (it could not export it, copy it to an "
            "HA peer or renew it)",
            "export it from the appliance with its key as PKCS#12 and import that (`ccapki "
            "import FILE.p12 --password ...`); if the appliance cannot export the key, let "
            f"ccapki issue {spec.name} a new certificate (`ccapki apply FILE`) and install it; "
            "until then its peers can trust the one it serves: `ccapki trust add APPLIANCE "
            f"{source}`",
        )
    lines = [
        f"{k.identity or '-'} made {k.created_at:%Y-%m-%d %H:%M} key {k.fingerprint[:16]}"
        for k in known.keys.values()
        if k.state is KeyState.PENDING
    ]
    older = ""
    dates = known.csr_dates.get(spec.name, ()) if spec is not None else ()
    if spec is not None and dates:
        older = (
            f"; {spec.name} has {len(dates)} {'CSR' if len(dates) == 1 else 'CSRs'} on "
            "record, the last from "
            f"{dates[-1]:%Y-%m-%d}, none with this key: the certificate answers "
            "a CSR made elsewhere (the appliance's own, or a key regenerated after the CSR)"
        )
    pend = "; pending keys: " + ", ".join(lines) if lines else "; no pending keys in the store"
    return KeyNotFoundError(
        f"private key not found for {source}: {display_name(cert)} has public key "
        f"{spki[:16]}...{pend}{older}",
        "import the key saved when the CSR was made (`ccapki import CERT --key KEYFILE`), "
        "or make a new CSR (`ccapki csr IDENTITY`) and have the CA issue again",
    )


def _held(known: Known, leaf: x509.Certificate, spec: IdentitySpec | None) -> Held | None:
    """The version of ``spec`` (or of any identity, when none is known) holding ``leaf``."""
    found = list(known.versions.get(fingerprint(leaf), ()))
    if spec is not None:
        found = [f for f in found if f[0] == spec.name]
    if not found:
        return None
    name, version = found[-1]
    return Held(name, version, known.current.get(name, version))


def _ours(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> bool:
    return any(issued_by(cert, ca) for ca in cas) or is_self_signed(cert)


@dataclass
class _Batch:
    """The batch as read: certificates (each once), keys by fingerprint, file of each."""

    certs: dict[str, x509.Certificate]
    keys: dict[str, PrivateKey]
    origin: dict[str, str]
    #: public-key fingerprint of each key -> the file it came from
    key_origin: dict[str, str] = field(default_factory=dict)
    #: certificate fingerprint -> the certificates of the first file that holds it
    sent_with: dict[str, tuple[x509.Certificate, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, materials: Sequence[Material]) -> _Batch:
        certs: dict[str, x509.Certificate] = {}
        keys: dict[str, PrivateKey] = {}
        origin: dict[str, str] = {}
        key_origin: dict[str, str] = {}
        sent_with: dict[str, tuple[x509.Certificate, ...]] = {}
        for m in materials:
            for c in m.certificates:
                fp = fingerprint(c)
                certs.setdefault(fp, c)
                origin.setdefault(fp, m.source)
                sent_with.setdefault(fp, m.certificates)
            for k in m.keys:
                spki = public_key_fingerprint(k)
                keys.setdefault(spki, k)
                key_origin.setdefault(spki, m.source)
        if not certs and not keys:
            for m in materials:
                if m.csrs or m.crls:
                    require_certificates(m)  # raises: "X.csr: is a CSR, not a certificate"
            raise InputError("nothing to import", "name certificate or key files")
        return cls(certs, keys, origin, key_origin, sent_with)

    def refuse_stray_keys(
        self, known: Known, adopted: Callable[[x509.Certificate], bool] = lambda c: False
    ) -> None:
        """Refuse a key given with certificates that matches none of them, and a CA's
        own key (of a CA certificate of the batch, or one the store holds already).

        A batch of keys alone is kept pending (a key saved for a certificate still to come),
        and so is a key the store holds already; but a key given *with* certificates is meant
        for one of them: one that fits none is a mistake (the wrong file), never kept.
        """
        held = [*(ca.certificate for ca in known.cas), *known.chain_cas]
        cas = {
            public_key_fingerprint(c.public_key()): c
            for c in [*held, *self.certs.values()]
            if is_ca(c) and not adopted(c)  # an appliance's own self-signed one is its identity
        }
        for spki in self.keys:
            if spki in cas and spki not in known.keys:
                ca = display_name(cas[spki])
                leaves = [c for c in self.certs.values() if not is_ca(c) or adopted(c)]
                hint = (
                    f"leave the key out and import the CA certificate alone (`ccapki import "
                    f"{self.origin.get(fingerprint(cas[spki]), 'CA-FILE')}`); an identity's "
                    "key goes with the certificate the CA issued for it"
                )
                if fingerprint(cas[spki]) not in self.certs:  # a CA the store holds
                    hint = (
                        f"the store holds {ca}'s certificate already: nothing to import; a "
                        "CA's key stays with the CA (an identity's key goes with the "
                        "certificate the CA issued for it, or answers its CSR)"
                    )
                elif leaves:  # the identity's certificate is there: its own key is meant
                    leaf = leaves[0]
                    hint = (
                        f"give the key of {display_name(leaf)} instead, the one saved when "
                        f"its CSR was made (`ccapki import "
                        f"{self.origin.get(fingerprint(leaf), 'CERT-FILE')} --key KEYFILE`); "
                        "without --key when the store holds it already"
                    )
                raise InputError(
                    f"{self.key_origin.get(spki, 'a key')}: is the private key of the CA "
                    f"certificate {ca}, not of an appliance's identity: ccapki keeps no "
                    "outside CA's key (nothing was imported)",
                    hint,
                )
        if not self.certs:
            return
        spkis = {public_key_fingerprint(c.public_key()) for c in self.certs.values()}
        stray = [s for s in self.keys if s not in spkis and s not in known.keys]
        if not stray:
            return
        files = ", ".join(dict.fromkeys(self.key_origin.get(s, "a key") for s in stray))
        raise InputError(
            f"{files}: key does not match any certificate given (public key "
            f"{', '.join(s[:16] for s in stray)}...; nothing was imported)",
            "give the key saved when the CSR of this certificate was made, or import the key "
            "on its own (`ccapki import KEYFILE`, no certificate) to keep it pending",
        )


@dataclass
class _Decisions:
    """What :func:`plan_import` has decided so far, chain by chain."""

    imported: list[Imported] = field(default_factory=list)
    records: list[IdentityRecord] = field(default_factory=list)
    ca_imports: list[x509.Certificate] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    used_keys: set[str] = field(default_factory=set)
    refusals: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    unchecked: list[tuple[str, str]] = field(default_factory=list)
    revived: list[tuple[str, str]] = field(default_factory=list)
    #: the identity each key of the batch's certificates went to (one key, one identity)
    key_owner: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Context:
    """What every decision of one :func:`plan_import` reads."""

    dep: Deployment
    known: Known
    batch: _Batch
    now: dt.datetime
    force: bool
    identity: str | None
    names: dict[str, IdentitySpec]
    known_cas: tuple[x509.Certificate, ...]
    #: where a chain is completed from: the batch's CAs, the store's, the public roots
    ca_pool: tuple[x509.Certificate, ...]


def plan_import(
    materials: Sequence[Material],
    deployment: Deployment,
    known: Known,
    now: dt.datetime,
    *,
    force: bool = False,
    identity: str | None = None,
) -> ImportPlan:
    """Decide what importing ``materials`` does, without touching the store.

    Certificates are matched to keys by public-key fingerprint (a key the store holds
    first, then one of the batch) and to identities by ``identity``, their names, or the
    identity of their stored key. A certificate already held is left alone.

    Returns the :class:`ImportPlan`. Raises :class:`InputError` for an empty batch, a
    certificate naming no identity, or (whole or nothing, unless ``force``) any certificate
    that does not fit its identity, or for a key given with certificates that matches none
    of them; :class:`KeyNotFoundError` when no key matches a certificate;
    :class:`NotFoundError` (from the deployment) for an unknown ``identity``.
    """
    batch = _Batch.of(materials)
    names = _name_index(deployment)
    batch.refuse_stray_keys(known, lambda c: _adopted_self_signed(c, names, identity))
    known_cas = tuple(c.certificate for c in known.cas)
    ctx = _Context(
        deployment,
        known,
        batch,
        now,
        force,
        identity,
        names,
        known_cas,
        (
            *(c for c in batch.certs.values() if is_ca(c)),
            *known_cas,
            *known.chain_cas,
            *public_roots(),
        ),
    )
    d = _Decisions()
    left_out: list[x509.Certificate] = []
    by_file: dict[int, dict[str, SortedChain]] = {}  # each file's chains, sorted once
    on_chains: set[str] = set()  # the CAs on the path of a leaf of the batch
    for sc in group_chains(batch.certs.values()) if batch.certs else []:
        if (
            is_ca(sc.leaf)
            and not _on_identity_key(sc.leaf, known)
            and not _adopted_self_signed(sc.leaf, names, identity)
        ):
            d.ca_imports += [c for c in sc.certificates if is_ca(c)]
        else:
            sent = _as_sent(sc, batch.sent_with.get(fingerprint(sc.leaf), ()), by_file)
            left_out += [c for c in sc.chain if c not in sent.chain and is_ca(c)]
            on_chains |= {fingerprint(c) for c in sent.chain}
            _plan_leaf(ctx, sent, d)
    # a CA of the batch that a file's own path left out, on no chain imported: judged as
    # a CA on no leaf's path is (every certificate of the batch is accounted for)
    on_chains |= {fingerprint(c) for r in d.imported for c in r.chain}
    d.ca_imports += [c for c in left_out if fingerprint(c) not in on_chains]
    # a CA on no leaf's chain: kept when a file gave CAs alone (a root or an intermediate
    # imported on purpose), else ignored (an unrelated CA sent along in a leaf's bundle)
    alone = {
        fingerprint(c)
        for m in materials
        if m.certificates and all(is_ca(c) for c in m.certificates)
        for c in m.certificates
    }
    kept: list[x509.Certificate] = []
    ignored: dict[str, str] = {}
    for c in d.ca_imports:
        fp = fingerprint(c)
        if fp in on_chains or fp in alone:
            kept.append(c)
        else:
            ignored.setdefault(fp, f"{display_name(c)} (in no certificate's chain)")
    d.ca_imports = kept
    if d.refusals:
        fixes = list(dict.fromkeys(d.fixes))
        # a fix may say what --force does already (a retired key's: it revives the key)
        done = fixes and all("--force" in f for f in fixes)
        anyway = [] if done else ["or import anyway with --force"]
        raise InputError(
            "refused (nothing was imported): " + " | ".join(d.refusals), "; ".join(fixes + anyway)
        )
    return replace(_plan_of(d, batch, known, materials), ignored=tuple(ignored.values()))


def _adopted_self_signed(
    cert: x509.Certificate, names: dict[str, IdentitySpec], identity: str | None
) -> bool:
    """True when ``cert`` is an appliance's own true self-signed certificate (CCA 4.7+: a
    self-signed certificate, often marked CA:TRUE, that is its own root) naming an identity
    of the plan (or ``identity`` given): adopted as that identity's certificate, with its
    key, never kept as an outside CA. Raises nothing."""
    if not is_self_signed(cert):
        return False
    return identity is not None or _identity_for(cert, names) is not None


def _on_identity_key(cert: x509.Certificate, known: Known) -> bool:
    """True when ``cert`` (a CA certificate) is on the key of an identity the store holds
    (its pending CSR's, say) and not self-signed: a CA's mistaken answer to that CSR, to be
    judged (and refused) as the identity's certificate, never kept as a CA."""
    if is_self_signed(cert):
        return False
    record = known.keys.get(public_key_fingerprint(cert.public_key()))
    return record is not None and bool(record.identity)


def _as_sent(
    sc: SortedChain,
    sent: tuple[x509.Certificate, ...],
    by_file: dict[int, dict[str, SortedChain]],
) -> SortedChain:
    """The chain of ``sc.leaf`` as the file that brought it sorts it (``sent``: that file's
    certificates; ``by_file``: each file's chains by leaf fingerprint, filled as files are
    sorted, so each is sorted once), when that file holds the leaf's issuer; else ``sc``,
    as the whole batch sorts it.

    A CA's answer (the certificate, its intermediates, maybe the root, in one file) keeps
    the path the CA gave, even when another file of the batch holds another path through
    the same issuer's name and key (a cross-signed intermediate sent with another
    certificate): which path is kept, and so which root the appliances must trust, never
    depends on the order the files are given in. What the file lacks above its own
    certificates is completed from the batch and the store later, as for any chain.
    Raises nothing.
    """
    if len(sent) < 2 or not sc.chain:
        return sc
    if id(sent) not in by_file:
        by_file[id(sent)] = {fingerprint(c.leaf): c for c in reversed(group_chains(sent))}
    own = by_file[id(sent)].get(fingerprint(sc.leaf))
    if own is None or not own.chain or own.chain == sc.chain[: len(own.chain)]:
        return sc
    return own


def _bypassed_csrs(known: Known, identity: str, spki: str) -> tuple[str, ...]:
    """The warning of a certificate imported with its own key for ``identity`` while a CSR
    of it is pending on another key (the key the store keeps for that CSR's answer)."""
    pending = [
        k
        for k in known.keys.values()
        if k.identity == identity and k.state is KeyState.PENDING and k.fingerprint != spki
    ]
    return tuple(
        f"{identity} has a CSR pending on another key ({k.fingerprint[:16]}, made "
        f"{k.created_at:%Y-%m-%d}): this certificate comes with its own key and does not "
        "answer it; the CSR stays pending (`ccapki status` lists it; `ccapki keys retire "
        f"{k.fingerprint[:16]}` drops its key if its answer is no longer wanted)"
        for k in pending
    )


def _plan_leaf(ctx: _Context, sc: SortedChain, d: _Decisions) -> None:
    """Decide on one identity certificate (and its chain): held, refused or imported."""
    leaf = sc.leaf
    src = ctx.batch.origin.get(fingerprint(leaf), "import")
    spki = public_key_fingerprint(leaf.public_key())
    spec = ctx.dep.identity(ctx.identity) if ctx.identity else _identity_for(leaf, ctx.names)
    stored = ctx.known.keys.get(spki)
    if spec is None and stored is not None and stored.identity:
        spec = ctx.dep.identity(stored.identity)
    already = _held(ctx.known, leaf, spec)
    if already is not None:
        d.held.append(already)
        d.used_keys.add(spki)  # its key is the store's already
        return
    # a key the store holds is used as it is, even when the batch carries it again
    key_from = "store" if stored is not None else ("batch" if spki in ctx.batch.keys else "")
    if spec is None:  # first: whose certificate it is decides which key to look for
        raise InputError(
            f"{src}: {display_name(leaf)} names no identity of deployment {ctx.dep.name}"
            + ("" if key_from else " (and no key the store or the files hold is its key)"),
            "check it is the certificate of one of the deployment's appliances (`ccapki plan` "
            "lists their names); if it is, say which identity it is for with --identity NAME"
            + ("" if key_from else " and give its key with --key KEYFILE"),
        )
    if not key_from:
        raise _not_found(ctx.known, leaf, spki, spec, src)
    owner = stored.identity if stored is not None else None
    if owner and owner != spec.name and owner in {i.name for i in ctx.dep.identities}:
        # --identity (even with --force) must not give one key to two identities: only an
        # HA pair's peers share a certificate and key, and they are one identity
        raise InputError(
            f"{src}: {display_name(leaf)} is on the key of {owner} (its CSR or certificate), "
            f"not of {spec.name}: one key is never two identities' (nothing was imported)",
            f"import it for {owner} (leave out --identity), and for {spec.name} make its own "
            f"CSR (`ccapki csr {spec.name}`); two appliances sharing one certificate are an "
            "HA pair: describe them as one in the deployment file",
        )
    first, first_src = d.key_owner.setdefault(spki, (spec.name, src))
    if first != spec.name:
        # two certificates of the batch on one key for two identities (was exit 70: the
        # keys table's one row per key)
        raise InputError(
            f"{src}: {display_name(leaf)} for {spec.name} is on the same private key as "
            f"{first_src} for {first}: one key is never two identities' (nothing was imported)",
            f"give each appliance its own key: for {spec.name} make a CSR (`ccapki csr "
            f"{spec.name}`) and import the CA's answer; two appliances sharing one "
            "certificate and key are an HA pair: describe them as one in the deployment file",
        )
    chain, missing = _complete_chain(sc, ctx.ca_pool)
    findings = check_fit(leaf, spec, ctx.now)
    if missing is not None:
        findings.append(_namesake(incomplete_chain(leaf, missing), missing, ctx.ca_pool))
    hard = [f for f in findings if f.severity == "error"]
    stale = _stale_answer(ctx.known.csrs.get(spki), spec, leaf) or _late_answer(
        ctx.known, spki, spec, forced=ctx.force
    )
    retired = _retired_answer(ctx.known, stored, spec, forced=ctx.force)
    if (hard or stale or retired) and not ctx.force:
        reasons = [w[0] for w in (retired, stale) if w]
        d.refusals.append(
            f"{src} for {spec.name}: " + "; ".join([*reasons, *(f.reason for f in hard)])
        )
        d.fixes += [w[1] for w in (retired, stale) if w]
        d.fixes += [f.fix for f in hard]
        return
    warnings = tuple(f.reason for f in findings if f.severity == "warning" or ctx.force)
    if stale:  # imported anyway (--force)
        warnings = (stale[0], *warnings)
    if retired:  # imported anyway (--force): the key is active again
        warnings = (retired[0], *warnings)
        d.revived.append((spec.name, spki))
    if hard or stale:  # taken by --force: its names may lack what the file gives
        d.unchecked.append((spec.name, fingerprint(leaf)))
    third_party = spec.source is Source.THIRD_PARTY or not _ours(leaf, ctx.known_cas)
    if third_party and spec.source is not Source.THIRD_PARTY:
        warnings += (source_warning(spec.name, spec.source),)
    if key_from == "batch":
        warnings += _bypassed_csrs(ctx.known, spec.name, spki)
    d.imported.append(Imported(spec.name, leaf, chain, key_from, warnings))
    if key_from == "batch":
        d.used_keys.add(spki)
    d.records.append(
        IdentityRecord(
            identity=spec.name,
            key=ctx.batch.keys.get(spki) if key_from == "batch" else None,
            key_type=key_type_name(leaf.public_key()),  # what the key is, not the plan's
            certificate=leaf,
            chain=chain,
            source=Source.THIRD_PARTY if third_party else spec.source,
        )
    )


def _retired_answer(
    known: Known, stored: KeyRecord | None, spec: IdentitySpec, *, forced: bool = False
) -> tuple[str, str] | None:
    """The refusal and fix when a certificate is on ``stored``, a key given up with
    ``ccapki keys retire`` (never matched to a new certificate): the CA answered a CSR
    the administrator retired. ``forced``: it is taken anyway, and the words say the key
    is active again. None when the key is not a retired one."""
    if stored is None or stored.state is not KeyState.RETIRED:
        return None
    when = known.retired.get(stored.fingerprint)
    on = f" on {when:%Y-%m-%d}" if when is not None else ""
    short = stored.fingerprint[:16]
    if forced:
        return (
            f"its key {short} was retired{on} (`ccapki keys retire`): taken with --force, "
            "the key is active again",
            "",
        )
    return (
        f"it is on key {short}, retired{on} (`ccapki keys retire`: given up, never matched "
        "to a new certificate)",
        f"make a new CSR (`ccapki csr {spec.name}`) and have the CA sign that one; "
        "`--force` takes this certificate anyway, reviving the retired key",
    )


def _late_answer(
    known: Known, spki: str, spec: IdentitySpec, *, forced: bool = False
) -> tuple[str, str] | None:
    """The refusal and fix when the certificate on key ``spki`` answers an older CSR of
    ``spec`` than the one its current certificate answers (a renewal asked again, both
    answered, the older answer arriving last): importing it would make the older request's
    certificate current over a newer one, perhaps installed already. ``forced``: it is
    imported anyway (``--force``), and the words say it replaced that certificate. None
    otherwise."""
    own = known.csrs.get(spki)
    cur = known.current_csr.get(spec.name)
    if own is None or cur is None or own.identity != spec.name:
        return None
    version, made = cur
    if own.created_at >= made:
        return None
    replaced = (
        f"which was current: it replaced that newer certificate (`ccapki export {spec.name} "
        f"--version {version}` writes it again)"
        if forced
        else "which is current: it would replace that newer certificate"
    )
    # to the second when both were made in one minute ("05:26 older than 05:26" reads false)
    stamp = (
        "%Y-%m-%d %H:%M:%S"
        if own.created_at.replace(second=0, microsecond=0) == made.replace(second=0, microsecond=0)
        else "%Y-%m-%d %H:%M"
    )
    return (
        f"it answers the CSR made {own.created_at:{stamp}} UTC, older than the one "
        f"{spec.name} v{version} answers (made {made:{stamp}} UTC), {replaced}",
        f"keep v{version} (the CA answered an older request late: nothing to import)",
    )


def _stale_answer(
    csr: CsrRecord | None, spec: IdentitySpec, leaf: x509.Certificate
) -> tuple[str, str] | None:
    """When ``csr`` (the CSR the store made on ``leaf``'s key) was made for an older
    version of the deployment file than ``spec`` (other names, another key type): the
    refusal's reason and fix; None when it was not (or there is none). A name the CSR
    asked for that the file no longer gives counts only when the answer ``leaf`` names it
    (an address the appliance no longer has); a CA that left it out answered what the
    file asks now (``san_ips = false`` set after the CSR went out: no second CSR)."""
    if csr is None or spec.acme:
        return None
    from ccapki.topology.plan import csr_differences, names_dropped

    try:
        request = csr.csr
        differs = csr_differences(spec, request, dropped=False)
        named = set(names_dropped(spec, leaf))
        kept = [n for n in names_dropped(spec, request) if n in named]
    except ValueError:  # a stored CSR that no longer parses: the fit checks decide
        return None
    if kept:
        differs.append(f"it names {', '.join(kept)}, no longer in the file")
    if not differs:
        return None
    return (
        f"it answers the CSR made {csr.created_at:%Y-%m-%d}, which is stale: made for an "
        f"older version of the deployment file ({'; '.join(differs)})",
        f"make a new CSR (`ccapki csr {spec.name}`), have the CA issue it and import that",
    )


def _plan_of(
    d: _Decisions, batch: _Batch, known: Known, materials: Sequence[Material]
) -> ImportPlan:
    """The plan of the decisions: keys to activate and keep, CAs to add or already held."""
    new_keys: list[PrivateKey] = []
    held_keys: list[str] = []
    for spki, key in batch.keys.items():
        if spki in d.used_keys:
            continue
        if spki in known.keys:
            held_keys.append(spki)
        else:
            new_keys.append(key)
    known_names = {c.fingerprint: c.name for c in known.cas}
    new_cas: list[x509.Certificate] = []
    held_cas: list[str] = []
    for fp, ca in {fingerprint(c): c for c in d.ca_imports}.items():
        if fp in known_names:
            held_cas.append(known_names[fp])
        else:
            new_cas.append(ca)
    return ImportPlan(
        imported=tuple(d.imported),
        records=tuple(d.records),
        activate=tuple(
            public_key_fingerprint(r.certificate.public_key())
            for r in d.imported
            if r.key_from == "store"
        ),
        new_keys=tuple(new_keys),
        new_cas=tuple(new_cas),
        held=tuple(d.held),
        held_cas=tuple(held_cas),
        held_keys=tuple(held_keys),
        notes=tuple(dict.fromkeys(n for m in materials for n in m.notes)),
        unchecked=tuple(d.unchecked),
        revived=tuple(d.revived),
    )


# ---------------------------------------------------------------------------- writing


def store_import(store: Store, plan: ImportPlan) -> ImportResult:
    """Write ``plan`` in one transaction (all or nothing) and say what was done.

    Raises what unlocking the store raises (a wrong passphrase) and :class:`StoreError`
    when the database refuses the write; nothing is written then.
    """
    store.unlock()
    with store.transaction():
        store.identities.add(plan.records)
        _log_imported(store, plan.imported)
        store.identities.mark_names_unchecked(plan.unchecked, "import --force")
        store.keys.set_state(plan.activate, KeyState.ACTIVE)
        for name, spki in plan.revived:  # a retired key taken back by --force
            store.audit.record("key-revive", name, fingerprint=spki)
        for key in plan.new_keys:
            # a key with no certificate yet: keep it (never lose a key), as what it is
            store.keys.add(key, key_type_name(key), None, KeyState.PENDING)
        for ca in plan.new_cas:
            store.cas.add(display_name(ca), "external", ca, None)
    return ImportResult(
        plan.imported,
        tuple(display_name(ca) for ca in plan.new_cas),
        len(plan.new_keys),
        warnings=tuple(w for w in map(_pending_key_warning, plan.new_keys) if w),
        held=plan.held,
        held_cas=plan.held_cas,
        held_keys=plan.held_keys,
        notes=plan.notes,
        ca_certificates=plan.new_cas,
        ignored=plan.ignored,
    )


#: Pending keys of these types can carry an appliance's certificate (with RSA from 2048
#: bits): the types ccapki issues. Java on the appliances, Chromium and NSS take no DSA
#: or EdDSA server certificate, BoringSSL no ECDSA P-521 one, and RSA under 2048 bits is
#: refused by browsers and by every public CA.
_USABLE_CURVES = ("ecdsa-p256", "ecdsa-p384")


def _pending_key_warning(key: PrivateKey) -> str | None:
    """What to say of a key imported with no certificate (kept pending) that no
    appliance certificate should be on, else None."""
    from ccapki.pki.keys import public_key_fingerprint

    kind = key_type_name(key)
    if kind in _USABLE_CURVES:
        return None
    if kind.startswith("rsa-") and kind[4:].isdigit() and int(kind[4:]) >= 2048:
        return None
    return (
        f"the pending key {public_key_fingerprint(key.public_key())[:16]} is {kind}: a "
        "certificate on it would be refused by CCA's Java, browsers or public CAs (they "
        "take RSA from 2048 bits, ECDSA P-256 or P-384); kept all the same (ccapki never "
        "loses a key); `ccapki keys retire` gives it up"
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
    """Import a batch, whole or nothing: :func:`load_known`, :func:`plan_import`,
    :func:`store_import`. Returns what was done; raises what :func:`plan_import` and
    :func:`store_import` raise (nothing is written then).

    Planned under the store's write lock, from what the store holds then: another writer
    at once waits, or has committed before this one reads."""
    store.unlock()  # a wrong passphrase fails before the lock is taken
    with store.transaction():
        known = load_known(store, materials)
        plan = plan_import(materials, dep, known, now, force=force, identity=identity)
        return store_import(store, plan)


def _log_imported(store: Store, imported: Sequence[Imported]) -> None:
    """One :data:`IMPORT_ACTION` audit row per certificate imported (in one statement):
    what ccapki did not issue itself, for ``status``, ``plan`` and ``apply``."""
    if not imported:
        return
    from sqlalchemy import insert

    from ccapki.store import schema as t

    rows = [
        store.audit.row(
            IMPORT_ACTION,
            imp.identity,
            {"fingerprint": fingerprint(imp.certificate), "key_from": imp.key_from},
        )
        for imp in imported
    ]
    with store.transaction() as c:
        c.execute(insert(t.audit), rows)
