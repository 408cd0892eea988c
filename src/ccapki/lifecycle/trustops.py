"""Trust across a whole deployment: trust stores, every channel's verdict, fixes, rotation.

Joins the pure trust engine (:mod:`ccapki.trust`) to the store and the topology. Every
verdict comes from ``cryptography.x509.verification`` through :class:`TrustContext`, one
context per distinct trust store, and identical verifications are computed once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509

from ccapki.pki.certs import display_name, fingerprint, is_self_signed, issuer_display_name
from ccapki.store.records import StoredIdentity
from ccapki.store.session import Store
from ccapki.topology.model import Appliance, Channel, Deployment, IdentitySpec, Role, Source
from ccapki.topology.releases import CHANNEL_STACKS
from ccapki.trust import (
    Case,
    Stack,
    TrustContext,
    Verdict,
    classify_link,
    client_refusals,
    expiry_warnings,
    required_anchor,
    trust_store_changes,
    verify_for_stack,
)
from ccapki.trust import (
    rotation_plan as pure_rotation_plan,
)
from ccapki.trust._cases import Change
from ccapki.trust._model import Code, Finding
from ccapki.trust._policy import CHANNEL_PLATFORMS

if TYPE_CHECKING:  # (the file formats: ~15 ms to load, for `trust add` and --clients FILE)
    from ccapki.pki.formats import Material

__all__ = [
    "Cell",
    "Inventory",
    "Matrix",
    "apply_changes",
    "certificates_to_trust",
    "check_deployment",
    "client_trust_roots",
    "first_step",
    "issuers_missing",
    "load_inventory",
    "required_trust",
    "rotation_plan",
    "third_party_steps",
    "trust_changes",
]

# the client platforms of each client channel: one table, which `plan` reads too
BROWSERS = CHANNEL_PLATFORMS[Channel.WEB_LOGIN.value]
AGENT_PLATFORMS = CHANNEL_PLATFORMS[Channel.AGENT.value]


def certificates_to_trust(
    material: Material, *, force: bool = False, now: dt.datetime | None = None
) -> tuple[tuple[x509.Certificate, ...], tuple[str, ...]]:
    """The certificates of a file given to ``trust add``, and warnings to show.

    A trust store holds CA certificates (and an appliance's self-signed certificate, its
    own anchor). Raises :class:`FileFormatError` for a file with no certificate (a private
    key gets a hint that fits a trust store), and :class:`InputError` for a certificate
    issued by a CA that is not a CA itself (trusting it would not make its issuer's
    certificates trusted), unless ``force``: it is returned then, with a warning. With
    ``now``, a certificate outside its validity at ``now``, or with a key the appliances'
    Java cannot verify with (EdDSA, RSA-PSS only), is added with a warning saying so; so is
    an intermediate CA (CA:TRUE, not self-signed): it is no root for clients.
    """
    from ccapki.errors import FileFormatError, InputError
    from ccapki.pki.certs import is_ca
    from ccapki.pki.formats import require_certificates

    if not material.certificates and material.keys:
        raise FileFormatError(
            f"{material.source}: holds a private key, no certificate",
            "a trust store takes CA certificates, and never needs a private key: give the "
            "CA's certificate file (`ccapki trust add APPLIANCE CA.pem`; "
            "`ccapki export-roots --out DIR` writes the store's roots)",
        )
    certs = require_certificates(material)
    key_note: tuple[str, ...] = ()
    if material.keys:  # an upload bundle: the certificates count, the key is left alone
        key_note = (
            f"{material.source} also holds a private key: ignored (a trust store never "
            "needs it; give the certificate alone, e.g. `ccapki export NAME --format cert`, "
            "and keep key files off the machines that only trust)",
        )
    key_note += _unusable_anchors(certs, now) if now is not None else ()
    key_note += tuple(
        f"{display_name(c)} is an intermediate CA (issued by {issuer_display_name(c)}), not "
        "a root: an appliance may need it in its trust store (a peer that does not send it "
        "in its chain), but clients trust roots, which `ccapki export-roots --out DIR` "
        "writes (the store lists this entry with the trust-store roots)"
        for c in certs
        if is_ca(c) and not is_self_signed(c)
    )
    leaves = [c for c in certs if not is_ca(c) and not is_self_signed(c)]
    if not leaves:
        return certs, key_note
    what = [
        f"{display_name(c)} is not a CA certificate (issued by {issuer_display_name(c)})"
        for c in leaves
    ]
    if not force:
        issuers = ", ".join(dict.fromkeys(issuer_display_name(c) for c in leaves))
        raise InputError(
            f"{material.source}: {'; '.join(what)}: a trust store takes CA certificates "
            "(nothing was added)",
            f"add the CA that issued it ({issuers}) instead; or add the certificate anyway "
            "with --force",
        )
    return certs, (*key_note, *(f"{w}: trusting it trusts no other certificate" for w in what))


def _unusable_anchors(certs: Sequence[x509.Certificate], now: dt.datetime) -> tuple[str, ...]:
    """Warnings for certificates given to ``trust add`` that trust nothing as they are."""
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
    from cryptography.x509.oid import PublicKeyAlgorithmOID

    from ccapki.pki.certs import public_key

    out: list[str] = []
    for c in certs:
        name = display_name(c)
        if now > c.not_valid_after_utc:
            out.append(
                f"{name} expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: agents and "
                "browsers refuse what it signs; trust its CA's current certificate instead"
            )
        elif now < c.not_valid_before_utc:
            out.append(
                f"{name} is not valid until {c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
                "what it signs is refused until then (check this machine's clock)"
            )
        key = public_key(c)
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            out.append(
                f"{name} has an EdDSA key: the appliances' Java 6/7 (CCA 4.x) cannot verify "
                "what it signs (EdDSA came in Java 15)"
            )
        elif c.public_key_algorithm_oid == PublicKeyAlgorithmOID.RSASSA_PSS:
            out.append(
                f"{name} has an RSA-PSS-only key (id-RSASSA-PSS): the appliances' Java 6/7 "
                "(CCA 4.x) cannot load it (Java 11+)"
            )
    return tuple(out)


#: The label `ccapki trust add` gives an entry ("added from FILE"): an administrator's own
#: choice (a RADIUS or LDAP server's CA, another site's root), which no prune removes.
HAND_ADDED = "added from "


@dataclass(frozen=True)
class Inventory:
    """What the store holds for a deployment, loaded once.

    ``by_hand``: the trust-store entries added with `ccapki trust add` (appliance,
    fingerprint): no prune removes them. ``awaiting``: identity -> when its newest CSR was
    made, for the identities whose CSR was made after their current certificate, or that
    have none yet (the CA's answer is awaited: the fix of an expiring or missing one is
    importing it, not another CSR)."""

    deployment: Deployment
    identities: Mapping[str, StoredIdentity]
    trust: Mapping[str, Sequence[x509.Certificate]]
    perfigo: frozenset[str]
    internal: frozenset[str]
    cas: tuple[x509.Certificate, ...]
    by_hand: frozenset[tuple[str, str]] = frozenset()
    awaiting: Mapping[str, dt.datetime] = field(default_factory=dict)

    def chain_of(self, spec: IdentitySpec) -> tuple[x509.Certificate, ...] | None:
        ident = self.identities.get(spec.name)
        return (ident.certificate, *ident.chain) if ident else None


def load_inventory(
    store: Store, dep: Deployment, identities: Mapping[str, StoredIdentity] | None = None
) -> Inventory:
    """What the store holds for ``dep``; ``identities`` (``store.identities.current()``)
    when the caller has read them already."""
    cas = store.cas.list()
    held = store.identities.current() if identities is None else identities
    return Inventory(
        deployment=dep,
        identities=held,
        trust=store.trust.all(),
        perfigo=frozenset(c.fingerprint for c in cas if c.kind == "perfigo-root"),
        internal=frozenset(c.fingerprint for c in cas if c.kind.startswith("internal")),
        cas=tuple(c.certificate for c in cas),
        by_hand=store.trust.labelled(HAND_ADDED),
        awaiting=_awaiting(store, held),
    )


def _awaiting(store: Store, held: Mapping[str, StoredIdentity]) -> dict[str, dt.datetime]:
    """:attr:`Inventory.awaiting`: the identities whose newest CSR is newer than their
    current certificate (as `ccapki renew` skips them) or that have no certificate yet,
    with when it was made."""
    from ccapki.lifecycle.csrdelivery import awaits_the_ca
    from ccapki.store.records import KeyState, stored_time

    out: dict[str, dt.datetime] = {}
    rows = store.rows(
        "SELECT identity, spki, created_at FROM csrs WHERE deployment = :d",
        {"d": store.deployment},
    )
    if not rows:
        return out
    pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
    for name, spki, made in rows:
        when = stored_time(made)
        cur = held.get(name)
        if cur is not None and not (cur.created_at is not None and when > cur.created_at):
            continue  # made before the current certificate
        if not awaits_the_ca(name, spki, when, pending, held):
            continue  # its key retired, or its certificate came: it awaits nothing
        out[name] = max(when, out.get(name, when))
    return out


def _anchors(inv: Inventory) -> tuple[dict[str, x509.Certificate], dict[str, x509.Name]]:
    """Each held identity's anchor (what the other side must trust: the root of its chain,
    completed from the CAs the store holds; a true self-signed identity itself; else the
    highest CA certificate known); and, apart, the identities whose CA-signed certificate
    is alone (no certificate of its issuer known), with that issuer: trusting such a leaf
    itself is not the fix (the FAQ: the root that signed it), its issuer is missing."""
    anchors: dict[str, x509.Certificate] = {}
    missing: dict[str, x509.Name] = {}
    # identities issued by one CA share its chain (one tuple): when that chain ends on a
    # root, the root is the anchor of each of them (what required_anchor finds), seen once
    rooted: dict[int, tuple[tuple[x509.Certificate, ...], bool]] = {}
    for spec in inv.deployment.identities:
        ident = inv.identities.get(spec.name)
        if ident is None:
            continue
        above = ident.chain
        if above:
            known = rooted.get(id(above))
            if known is None or known[0] is not above:
                known = rooted[id(above)] = (above, is_self_signed(above[-1]))
            if known[1]:
                anchors[spec.name] = above[-1]
                continue
        leaf = ident.certificate
        anchor = required_anchor((leaf, *above), inv.cas)
        if anchor is leaf and not is_self_signed(leaf):
            missing[spec.name] = leaf.issuer
            continue
        anchors[spec.name] = anchor
    return anchors, missing


def issuers_missing(inv: Inventory) -> dict[str, x509.Name]:
    """The identities whose CA-signed certificate the store holds without any certificate
    of its issuer (imported with ``--force``), with the issuer's name: no trust-store entry
    can be named for them until that issuer (and its root) is imported."""
    return _anchors(inv)[1]


def required_trust(inv: Inventory) -> dict[str, list[x509.Certificate]]:
    """What each appliance must trust for every channel: the other side's anchors.

    CAM: every CAS identity's anchor (mutual TLS, 4.5+) and, for an HA pair, its own
    (the certificate-keyed heartbeat, 4.7+). CAS: the CAM identity's anchor and, for an HA
    pair, its own. A release without a channel needs nothing for it. An identity whose
    issuer is unknown (:func:`issuers_missing`) needs its issuer imported first: nothing
    is asked for it (never its own CA-signed certificate).
    """
    dep = inv.deployment
    anchors = _anchors(inv)[0]
    profile = dep.profile
    mutual, heartbeat = profile.mutual_verification, profile.ha_ipsec_heartbeat
    # each anchor (a few objects, thousands of uses) hashed once
    fps: dict[int, tuple[x509.Certificate, str]] = {}

    def fp(cert: x509.Certificate) -> str:
        found = fps.get(id(cert))
        if found is None or found[0] is not cert:
            found = fps[id(cert)] = (cert, fingerprint(cert))
        return found[1]

    out: dict[str, list[x509.Certificate]] = {}
    for spec in dep.identities:
        need: list[x509.Certificate] = []
        peers = dep.cas if spec.role is Role.CAM else (dep.cam,)
        if mutual:
            need += [anchors[p.name] for p in peers if p.name in anchors]
        if spec.ha and heartbeat and spec.name in anchors:
            need.append(anchors[spec.name])
        uniq = list({fp(c): c for c in need}.values())
        for m in spec.members:
            out[m.name] = uniq
    return out


def _owners(inv: Inventory) -> dict[str, str]:
    owners: dict[str, str] = {}
    for spec in inv.deployment.identities:
        ident = inv.identities.get(spec.name)
        if ident is not None:
            role = "CAM" if spec.role is Role.CAM else "CAS"
            # the stored fingerprint is the certificate's (no SHA-256 of each leaf again)
            fp = ident.fingerprint or fingerprint(ident.certificate)
            owners.setdefault(fp, f"the {role} {spec.name}")
    return owners


def trust_changes(inv: Inventory, *, prune: bool = False) -> list[Change]:
    """The smallest set of trust-store changes that makes every channel pass (with
    ``prune``: and the removal of what no channel needs, but for what an administrator
    added by hand, see :func:`kept_by_hand`)."""
    changes = _all_changes(inv, prune=prune)
    if not prune or not inv.by_hand:
        return changes
    return [c for c in changes if c.action == "add" or not _by_hand(inv, c)]


def kept_by_hand(inv: Inventory) -> list[Change]:
    """The removals a prune leaves out: entries no channel needs that were added with
    `ccapki trust add` (`ccapki trust remove` removes one)."""
    if not inv.by_hand:
        return []
    return [c for c in _all_changes(inv, prune=True) if c.action == "remove" and _by_hand(inv, c)]


def _by_hand(inv: Inventory, change: Change) -> bool:
    return (change.appliance, change.fingerprint) in inv.by_hand


def _all_changes(inv: Inventory, *, prune: bool) -> list[Change]:
    dep = inv.deployment
    return trust_store_changes(
        {a.name: list(inv.trust.get(a.name, ())) for a in dep.appliances},
        required_trust(inv),
        cams=[m.name for m in dep.cam.members],
        prune=prune,
        perfigo_fingerprints=inv.perfigo,
        owners=_owners(inv),
    )


def apply_changes(store: Store, changes: Sequence[Change]) -> None:
    with store.transaction():
        for ch in changes:
            if ch.action == "add":
                store.trust.add(ch.appliance, ch.certificate, ch.description)
            else:
                store.trust.remove(ch.appliance, ch.fingerprint)


# ---------------------------------------------------------------------------- check


@dataclass(frozen=True)
class Cell:
    appliance: str
    channel: Channel
    ok: bool | None  # None: the channel does not apply
    findings: tuple[str, ...] = ()
    case: str | None = None
    requires: str | None = None
    tls_ok: bool | None = None  # the handshake alone (client policies aside); None: as ok
    #: risks that do not fail the channel yet: a certificate inside its renewal window, and
    #: web-PKI refusals the channel's stack accepts (``strictness``)
    warnings: tuple[str, ...] = ()
    #: those of ``warnings`` that are web-PKI refusals the channel's stack accepts: nothing
    #: breaks on this channel and no renewal fixes them; clients applying web-PKI rules (not
    #: this channel's) may refuse
    strictness: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """n/a, fail, warn (passes today, but a certificate is due for renewal, or web-PKI
        refuses what the channel's stack accepts) or pass."""
        if self.ok is None:
            return "n/a"
        if not self.ok:
            return "fail"
        return "warn" if self.warnings else "pass"

    @property
    def renewals(self) -> tuple[str, ...]:
        """The warnings a renewal fixes (a certificate due, or out of date where the stack
        does not read its dates): renew before the outage."""
        strict = set(self.strictness)
        return tuple(w for w in self.warnings if w not in strict)

    @property
    def handshake_ok(self) -> bool | None:
        """What a live TLS handshake must show (platform policies are not in a handshake)."""
        return self.ok if self.tls_ok is None else self.tls_ok

    def to_json(self) -> dict[str, object]:
        return {
            "appliance": self.appliance,
            "channel": self.channel.value,
            "status": self.status,
            "findings": list(self.findings),
            "warnings": list(self.warnings),
            "renewal_warnings": list(self.renewals),
            "strictness_warnings": list(self.strictness),
            "case": self.case,
            "requires": self.requires,
        }


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)
    verifications: int = 0
    dn_authorization: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No channel fails (expiry warnings aside)."""
        return all(c.ok is not False for c in self.cells)

    @property
    def warnings(self) -> dict[str, list[str]]:
        """Each distinct warning -> the cells (``appliance channel``) it concerns."""
        out: dict[str, list[str]] = {}
        for c in self.cells:
            for w in c.warnings:
                out.setdefault(w, []).append(f"{c.appliance} {c.channel.value}")
        return out

    @property
    def renewals(self) -> dict[str, list[str]]:
        """Each distinct warning a renewal fixes -> the cells it concerns."""
        return self._kind(lambda c: c.renewals)

    @property
    def strictness(self) -> dict[str, list[str]]:
        """Each distinct web-PKI refusal a channel's stack accepts -> the cells it concerns
        (nothing breaks on those channels; clients applying web-PKI rules may refuse)."""
        return self._kind(lambda c: c.strictness)

    def _kind(self, which: Callable[[Cell], tuple[str, ...]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.cells:
            for w in which(c):
                out.setdefault(w, []).append(f"{c.appliance} {c.channel.value}")
        return out

    @property
    def clean(self) -> bool:
        """No channel fails and no certificate is due for renewal: ``trust check`` exits 0.
        Web-PKI refusals the channels' stacks accept (``strictness``) do not count: nothing
        breaks on those channels, and no renewal would change them."""
        return self.ok and not any(c.renewals for c in self.cells)

    def to_json(self) -> dict[str, object]:
        """What ``trust check --json`` prints."""
        renewal = self.renewals
        return {
            "ok": self.clean,
            "verifications": self.verifications,
            "cells": [c.to_json() for c in self.cells],
            "warnings": [
                {
                    "warning": w,
                    "cells": c,
                    "kind": "renewal" if w in renewal else "strictness",
                }
                for w, c in self.warnings.items()
            ],
            "dn_authorization": [{"cas": p, "dn": dn} for p, dn in self.dn_authorization],
        }


#: Findings a renewal fixes, even where a stack accepts them (a Java trust anchor's dates).
_DATED = frozenset({Code.EXPIRED, Code.NOT_YET_VALID, Code.EXPIRING_SOON})

#: After the fix "add ... to the trust store" of an appliance's trust store.
_TRUST_APPLY = " (`ccapki trust apply` adds it, as `ccapki trust plan` lists)"


class _Verifier:
    """One TrustContext per distinct trust store; identical questions answered once."""

    def __init__(self, now: dt.datetime, candidates: Sequence[x509.Certificate]) -> None:
        self.now = now
        self.candidates = tuple(candidates)
        self._ctx: dict[frozenset[str], TrustContext] = {}
        self._memo: dict[tuple[Any, ...], tuple[str, ...]] = {}
        #: what the channel's stack accepts but web-PKI refuses (kept as warnings)
        self._soft: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._store_keys: dict[int, tuple[Sequence[x509.Certificate], frozenset[str]]] = {}
        self._cases: dict[tuple[str, frozenset[str]], Case] = {}
        self._refusals: dict[tuple[str, tuple[str, ...], bool], tuple[str, ...]] = {}
        self._expiry: dict[tuple[str, ...], tuple[str, ...]] = {}
        #: the soft texts that are strictness (not dates): see :attr:`Cell.strictness`
        self.strict: set[str] = set()
        self.count = 0
        #: fixes fitted to the identity presenting a leaf (see :meth:`fit_to`)
        self._fits: _Fits | None = None

    def fit_to(self, inv: Inventory) -> None:
        """Word the fixes about an identity's own certificate for that identity: its name,
        standalone or HA pair (both peers), how it is reissued, the release's defaults."""
        self._fits = _Fits(inv)

    def text(self, f: Finding, leaf: x509.Certificate) -> str:
        """``f`` as text, its fix fitted to the identity presenting ``leaf``."""
        fix = self._fits.fix(f, leaf) if self._fits else f.fix
        return f"[{f.code}] {f.reason} -> fix: {fix}"

    def expiry(self, *chains: Sequence[x509.Certificate] | None) -> tuple[str, ...]:
        """Warnings for the certificates of ``chains`` due for renewal (memoized per chain)."""
        out: list[str] = []
        for chain in chains:
            if not chain:
                continue
            key = tuple(fingerprint(c) for c in chain)
            found = self._expiry.get(key)
            if found is None:
                found = tuple(self.text(f, chain[0]) for f in expiry_warnings(chain, self.now))
                self._expiry[key] = found
            out += found
        return tuple(dict.fromkeys(out))

    def store_key(self, store: Sequence[x509.Certificate]) -> frozenset[str]:
        """A trust store's identity: the set of its fingerprints (cached per list object)."""
        cached = self._store_keys.get(id(store))
        if cached is None or cached[0] is not store:
            cached = (store, frozenset(fingerprint(c) for c in store))
            self._store_keys[id(store)] = cached
        return cached[1]

    def case(
        self, inv: Inventory, chain: Sequence[x509.Certificate], store: Sequence[x509.Certificate]
    ) -> Case:
        """The FAQ case of ``chain`` seen through ``store`` (memoized)."""
        key = (fingerprint(chain[0]), self.store_key(store))
        if key not in self._cases:
            self._cases[key] = classify_link(
                chain,
                store,
                perfigo_fingerprints=inv.perfigo,
                internal_fingerprints=inv.internal,
                candidates=inv.cas,
            )
        return self._cases[key]

    def refusals(
        self, cert: x509.Certificate, platforms: tuple[str, ...], public: bool
    ) -> tuple[str, ...]:
        """Which client platforms refuse ``cert`` outright, as text (memoized)."""
        key = (fingerprint(cert), platforms, public)
        if key not in self._refusals:
            found = client_refusals(cert, platforms, self.now, publicly_trusted=public)
            self._refusals[key] = tuple(
                f"{platform} refuses it: {self.text(f, cert)}"
                for platform, fs in found.items()
                for f in fs
            )
        return self._refusals[key]

    def check(
        self,
        chain: Sequence[x509.Certificate],
        store: Sequence[x509.Certificate],
        purpose: Literal["server", "client"],
        name: str | None,
        who: str,
        peer: str = "",
        stack: Stack = Stack.WEBPKI,
    ) -> tuple[str, ...]:
        """() when the chain verifies; else the findings as text (who + reason + fix).

        ``who`` is a template: ``{peer}`` in it is filled in (only when there is a finding,
        so the many passing checks of a big deployment build no strings). Its first word is
        the verifying side, whose trust store ``store`` is: findings name it ("cas1's trust
        store", "the client's trust store") instead of "the trust store"."""
        skey = self.store_key(store)
        key = (fingerprint(chain[0]), skey, purpose, name, stack)
        # the memo holds the reasons only: appliances sharing a trust store share the verdict,
        # but each finding names its own appliance (``who``)
        reasons = self._memo.get(key)
        if reasons is None:
            reasons, soft = self._verify(chain, store, skey, purpose, name, stack)
            self._memo[key] = reasons
            self._soft[key] = soft
        if not reasons:
            return ()
        label = who.replace("{peer}", peer)
        owner = who.split(" ", 1)[0]
        whose = "the client's trust store" if owner == "client" else f"{owner}'s trust store"
        # an appliance's trust store is ccapki's to fill: say with what
        how = "" if owner == "client" else _TRUST_APPLY
        return tuple(
            f"{label}: {r.replace('the trust store', whose)}"
            + (how if r.endswith("to the trust store") else "")
            for r in reasons
        )

    def softened(
        self,
        chain: Sequence[x509.Certificate],
        store: Sequence[x509.Certificate],
        purpose: Literal["server", "client"],
        name: str | None,
        stack: Stack,
    ) -> tuple[str, ...]:
        """The web-PKI refusals ``stack`` accepts for this check (after :meth:`check`)."""
        key = (fingerprint(chain[0]), self.store_key(store), purpose, name, stack)
        return self._soft.get(key, ())

    def _verify(
        self,
        chain: Sequence[x509.Certificate],
        store: Sequence[x509.Certificate],
        skey: frozenset[str],
        purpose: Literal["server", "client"],
        name: str | None,
        stack: Stack = Stack.WEBPKI,
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ctx = self._ctx.get(skey)
        if ctx is None:
            # (it keeps one copy of each root: `--clients installed` lists every identity's
            # anchor, the same root thousands of times in a big internal deployment)
            ctx = TrustContext(list(store), candidates=self.candidates)
            self._ctx[skey] = ctx
        self.count += 1
        if not store:
            # what to add, named: the root its chain ends at (completed from the CAs the
            # store holds); a CA-signed leaf whose issuer is unknown names that issuer
            top = required_anchor(chain, self.candidates)
            if top is chain[0] and not is_self_signed(top):
                what = f"the root of its issuer {issuer_display_name(top)}"
            elif top is chain[0]:
                what = f"{display_name(top)} itself (true self-signed)"
            else:
                what = display_name(top)
            return (f"the trust store is empty: add {what} (see `ccapki trust plan`)",), ()
        sent = list(chain[1:])
        # a root the peer sends changes no verdict (it is trusted only from the store) but
        # makes the path builder try it as an intermediate: verify without it ...
        untrusted = sent[:-1] if sent and is_self_signed(sent[-1]) else sent

        def verify(intermediates: list[x509.Certificate]) -> Verdict:
            return verify_for_stack(
                stack, chain[0], intermediates, ctx.roots, purpose=purpose, peer_name=name,
                at=self.now, context=ctx, lint=False,
            )  # fmt: skip

        verdict = verify(untrusted)
        soft = tuple(
            f"[{stack}] {self.text(f, chain[0])}"
            for f in verdict.warnings
            if f.reason.startswith("web-PKI refuses")
        )
        self.strict.update(
            f"[{stack}] {self.text(f, chain[0])}"
            for f in verdict.warnings
            if f.reason.startswith("web-PKI refuses") and f.code not in _DATED
        )
        if verdict.ok:
            return (), soft
        if untrusted is not sent:  # ... and explain a failure from everything it sent
            verdict = verify(sent)
        errors = tuple(self.text(f, chain[0]) for f in verdict.errors)
        return errors or (str(verdict.raw_error),), soft


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class _Fits:
    """Fixes about an identity's own certificate, worded for that identity: the trust engine
    knows certificates only, not whether one is a standalone appliance's or an HA pair's, nor
    how ccapki reissues it."""

    def __init__(self, inv: Inventory) -> None:
        from ccapki.topology.plan import make_plan, signer_for

        self.dep = inv.deployment
        self.awaiting = inv.awaiting
        self.presenter: dict[str, IdentitySpec] = {}
        #: identities whose certificate is its own anchor (trusted directly)
        self.own_anchor: set[str] = set()
        for spec in self.dep.identities:
            chain = inv.chain_of(spec)
            if chain:
                self.presenter[fingerprint(chain[0])] = spec
                if len(chain) == 1 and is_self_signed(chain[0]):
                    self.own_anchor.add(spec.name)
        plan = make_plan(self.dep)
        self.days = {p.name: p.validity_days for p in plan.identities}
        self.own_anchor &= {p.name for p in plan.identities if signer_for(p, self.dep) == "self"}

    def fix(self, f: Finding, leaf: x509.Certificate) -> str:
        spec = self.presenter.get(fingerprint(leaf))
        if spec is None or f.subject != display_name(leaf):
            return f.fix  # about a CA, or a certificate no identity presents
        if f.code in (Code.EXPIRED, Code.EXPIRING_SOON):
            return self._renew(spec, expired=f.code == Code.EXPIRED)
        if f.code == Code.VALIDITY_TOO_LONG:
            m = re.search(r"validity_days = (\d+) or less", f.fix)
            if m:
                return self._shorter(spec, int(m.group(1)))
        if f.code == Code.WRONG_EKU and spec.source is Source.THIRD_PARTY:
            return self._ask_eku(spec)
        return f.fix

    def _ask_eku(self, spec: IdentitySpec) -> str:
        """The fix of a third-party certificate whose extendedKeyUsage lacks what CAM/CAS
        mutual TLS needs: ccapki does not re-issue it, the CA does, on a new CSR."""
        name = spec.name
        eku = "clientAuth and serverAuth in its extendedKeyUsage"
        if spec.acme:
            return (
                f"order {name} from an ACME CA (or a profile of it) that issues {eku} "
                f"(`ccapki acme order {name}`): CAM and CAS authenticate each other both ways"
            )
        return (
            f"make a new CSR (`ccapki csr {name}`) and ask the CA for a certificate with {eku} "
            "(CAM and CAS authenticate each other both ways), then `ccapki import` it"
        )

    def _renew(self, spec: IdentitySpec, *, expired: bool) -> str:
        name = spec.name
        if spec.acme:
            how = (
                f"`ccapki acme order {name}` orders it from the ACME CA, as `ccapki renew "
                f"{name} --commit` does"
            )
        elif spec.source is Source.THIRD_PARTY and name in self.awaiting:
            how = (
                f"the CSR made on {self.awaiting[name]:%Y-%m-%d} awaits the CA: `ccapki "
                f"import` its answer (`ccapki renew {name} --commit` makes another CSR)"
            )
        elif spec.source is Source.THIRD_PARTY:
            how = f"make a CSR (`ccapki csr {name}`), have the CA sign it, `ccapki import` it"
        else:
            how = f"`ccapki apply` {'reissues' if expired else 'renews'} it"
        if spec.ha:
            peers = _and([m.name for m in spec.members])
            where = f"install it on both peers of the HA pair {name} ({peers}) at the same time"
        else:
            where = f"install it on {name}"
        verb = f"issue a new identity certificate for {name}" if expired else f"renew {name} now"
        text = f"{verb} ({how}) and {where}"
        if not expired:
            return text
        down = ["its agent, web login and admin GUI" if spec.role is Role.CAS else "its admin GUI"]
        up: list[str] = []
        links = up if name in self.own_anchor else down
        if self.dep.profile.mutual_verification:
            links.append("its CAM/CAS links")
        if spec.ha and self.dep.profile.ha_ipsec_heartbeat:
            links.append(
                "the HA heartbeat"
                if links is up
                else "the HA heartbeat (both peers would go active)"
            )
        text = f"{text}; until then these fail: {'; '.join(down)}"
        if up:  # a certificate trusted directly is an anchor: Java and strongSwan never
            # read a trust anchor's dates (tools/differential.py, docs/stacks.md)
            text += (
                f"; {_and(up)} still pass (Java and strongSwan do not read the dates of a "
                "certificate they trust directly)"
            )
        return text

    def _shorter(self, spec: IdentitySpec, days: int) -> str:
        name = spec.name
        if spec.acme:
            return (
                f"have the ACME CA issue certificates valid at most {days} days (its "
                f"profile or settings: a public CA's are shorter already), then `ccapki acme "
                f"order {name}` orders a new one"
            )
        if spec.source is Source.THIRD_PARTY:
            return (
                f"ask the CA for a certificate of {name} valid at most {days} days: make a CSR "
                f"(`ccapki csr {name}`) and `ccapki import` what the CA returns"
            )
        now = self.days.get(name)
        if spec.validity_days is not None:
            why = f"; it asks for {now} days"
        else:
            why = (
                f"; the {self.dep.release} default for a {spec.source.value} identity is {now} days"
            )
        return (
            f"set validity_days = {days} or less for this identity in the deployment file "
            f"(in {name}'s table, or in [deployment] for every identity) and run "
            f"`ccapki apply`, which reissues {name}{why}"
        )


def _no_certificate(
    spec: IdentitySpec, awaiting: Mapping[str, dt.datetime], *, named: bool = True
) -> str:
    """The finding of a cell whose identity ``spec`` has no certificate yet, with its next
    step (``awaiting``: :attr:`Inventory.awaiting`; ``named``: the finding names the
    identity). Raises nothing."""
    name = spec.name
    return (
        f"{name + ' has ' if named else ''}no certificate yet -> fix: {first_step(spec, awaiting)}"
    )


def first_step(spec: IdentitySpec, awaiting: Mapping[str, dt.datetime]) -> str:
    """The step that gives ``spec``, which has no certificate yet, its first one: the CA's
    answer to import (``awaiting``: :attr:`Inventory.awaiting`), a CSR to make, an ACME
    order, or ``apply``. Raises nothing."""
    name = spec.name
    if spec.acme:
        fix = f"order it from the ACME CA (`ccapki acme order {name}`)"
    elif spec.source is Source.THIRD_PARTY and name in awaiting:
        fix = (
            f"the CSR made on {awaiting[name]:%Y-%m-%d} awaits the CA: `ccapki import FILE` "
            "its answer"
        )
    elif spec.source is Source.THIRD_PARTY:
        fix = (
            f"make its CSR (`ccapki csr {name}`), send it to the CA, then `ccapki import FILE` "
            "the certificate it returns"
        )
    else:
        fix = "issue it (`ccapki apply FILE`)"
    return fix


def _ha_name(spec: IdentitySpec) -> str:
    return spec.common_name


def _mutual(
    v: _Verifier,
    chain: Sequence[x509.Certificate],
    store: Sequence[x509.Certificate],
    name: str | None,
    me: str,
    peer: str,
    channel: Channel,
    soft: list[str],
) -> list[str]:
    """``me`` verifying ``peer``'s identity both ways (peer as TLS server and as client),
    as ``channel``'s stack does; what that stack accepts but web-PKI refuses goes to
    ``soft``."""
    stack = _stack(channel)
    out = [
        *v.check(chain, store, "server", name, me + " -> {peer}", peer, stack),
        *v.check(chain, store, "client", None, me + " <- {peer} (client cert)", peer, stack),
    ]
    soft += v.softened(chain, store, "server", name, stack)
    soft += v.softened(chain, store, "client", None, stack)
    return out


def _stack(channel: Channel) -> Stack:
    """The stack that verifies ``channel`` in the field (the release table's map)."""
    return Stack(CHANNEL_STACKS[channel.value])


def _links_cam_cas(
    inv: Inventory,
    v: _Verifier,
    matrix: Matrix,
    trust: Callable[[Appliance], Sequence[x509.Certificate]],
) -> None:
    """CAM <-> CAS, link by link: a link fails if either end refuses the other; a cell
    (one appliance) fails if any of its links does, naming the side that refused."""
    dep = inv.deployment
    if not dep.profile.mutual_verification:
        for a in dep.appliances:
            matrix.cells.append(
                Cell(a.name, Channel.CAM_CAS, None, ("before 4.5: no mutual verification",))
            )
        return
    cam_chain = inv.chain_of(dep.cam)
    finds: dict[str, list[str]] = {a.name: [] for a in dep.appliances}
    cases: dict[str, list[Case]] = {a.name: [] for a in dep.appliances}
    warns: dict[str, list[str]] = {a.name: [] for a in dep.appliances}
    for spec in dep.cas:
        chain = inv.chain_of(spec)
        for x in spec.members:
            for m in dep.cam.members:
                if chain is None or cam_chain is None:
                    missing = _no_certificate(spec if chain is None else dep.cam, inv.awaiting)
                    finds[x.name].append(missing)
                    finds[m.name].append(missing)
                    continue
                # Java PKIX by trust store, both ways: no hostname is checked (the FAQ)
                soft: list[str] = []
                link = _mutual(v, chain, trust(m), None, m.name, x.name, Channel.CAM_CAS, soft)
                link += _mutual(v, cam_chain, trust(x), None, x.name, m.name, Channel.CAM_CAS, soft)
                finds[m.name] += link
                finds[x.name] += link
                warns[m.name] += soft
                warns[x.name] += soft
                # a link's findings are both cells': so is what the FAQ's case requires of
                # it, both ways (a CAS on a third-party CA fails on what the CAM must trust)
                both = (v.case(inv, chain, trust(m)), v.case(inv, cam_chain, trust(x)))
                cases[m.name] += both
                cases[x.name] += both
                expiring = v.expiry(chain, cam_chain)
                warns[m.name] += expiring
                warns[x.name] += expiring
    for a in dep.appliances:
        f = tuple(dict.fromkeys(finds[a.name]))
        names = sorted({c.name for c in cases[a.name]})
        requires = [c.requires for c in cases[a.name] if not c.satisfied]
        warned = tuple(dict.fromkeys(warns[a.name]))
        matrix.cells.append(
            Cell(
                a.name,
                Channel.CAM_CAS,
                not f,
                f,
                ", ".join(names) or None,
                "; ".join(dict.fromkeys(requires)) or None,
                warnings=warned,
                strictness=tuple(w for w in warned if w in v.strict),
            )
        )


def _links_heartbeat(
    inv: Inventory,
    v: _Verifier,
    matrix: Matrix,
    trust: Callable[[Appliance], Sequence[x509.Certificate]],
) -> None:
    """Each HA pair's heartbeat: both peers present the pair identity and verify it."""
    dep = inv.deployment
    for spec in dep.identities:
        if not spec.ha or not dep.profile.ha_ipsec_heartbeat:
            why = "standalone" if not spec.ha else "heartbeat not in IPsec before 4.7"
            for a in spec.members:
                matrix.cells.append(Cell(a.name, Channel.HA_HEARTBEAT, None, (why,)))
            continue
        chain = inv.chain_of(spec)
        p, s = spec.members
        expiring: tuple[str, ...] = ()
        if chain is None:
            f: tuple[str, ...] = (_no_certificate(spec, inv.awaiting),)
        else:
            # IKEv2: each peer identified by its certificate's DN, no hostname checked
            soft: list[str] = []
            hb = Channel.HA_HEARTBEAT
            link = _mutual(v, chain, trust(p), None, p.name, s.name, hb, soft)
            link += _mutual(v, chain, trust(s), None, s.name, p.name, hb, soft)
            if link:
                link.append("HA broken: the IPsec heartbeat fails and both peers would go active")
            f = tuple(dict.fromkeys(link))
            expiring = tuple(dict.fromkeys(v.expiry(chain) + tuple(soft)))
        strict = tuple(w for w in expiring if w in v.strict)
        for a in spec.members:
            matrix.cells.append(
                Cell(a.name, Channel.HA_HEARTBEAT, not f, f, warnings=expiring, strictness=strict)
            )


def check_deployment(
    inv: Inventory,
    now: dt.datetime,
    client_roots: Sequence[x509.Certificate],
    *,
    public_fingerprints: frozenset[str] = frozenset(),
) -> Matrix:
    """Every channel of the deployment, every appliance: pass, fail (with findings), n/a."""
    from ccapki._util import gc_paused

    with gc_paused():  # many long-lived small objects, no cycles: skip the GC's rescans
        return _check_deployment(inv, now, client_roots, public_fingerprints)


def _check_deployment(
    inv: Inventory,
    now: dt.datetime,
    client_roots: Sequence[x509.Certificate],
    public_fingerprints: frozenset[str],
) -> Matrix:
    dep = inv.deployment
    v = _Verifier(now, inv.cas)
    v.fit_to(inv)
    matrix = Matrix()

    def trust(a: Appliance) -> Sequence[x509.Certificate]:
        return inv.trust.get(a.name, ())

    client_ctx_roots = list(client_roots)
    _links_cam_cas(inv, v, matrix, trust)
    _links_heartbeat(inv, v, matrix, trust)
    for spec in dep.identities:
        chain = inv.chain_of(spec)
        for a in spec.members:
            # --- clients
            client_channels: list[tuple[Channel, str, tuple[str, ...]]] = []
            if spec.role is Role.CAS:
                client_channels.append((Channel.AGENT, spec.common_name, AGENT_PLATFORMS))
                client_channels.append((Channel.WEB_LOGIN, spec.common_name, BROWSERS))
            client_channels.append((Channel.ADMIN_GUI, a.host, BROWSERS))
            for channel, name, platforms in client_channels:
                if chain is None:
                    missing = _no_certificate(spec, inv.awaiting, named=False)
                    matrix.cells.append(Cell(a.name, channel, False, (missing,)))
                    continue
                stack = _stack(channel)
                finds = list(
                    v.check(
                        chain, client_ctx_roots, "server", name, "client -> {peer}", name, stack
                    )
                )
                soft = v.softened(chain, client_ctx_roots, "server", name, stack)
                public = fingerprint(chain[-1]) in public_fingerprints
                tls_ok = not finds
                finds += v.refusals(chain[0], platforms, public)
                warned = tuple(dict.fromkeys(v.expiry(chain) + soft))
                matrix.cells.append(
                    Cell(
                        a.name,
                        channel,
                        not finds,
                        tuple(dict.fromkeys(finds)),
                        tls_ok=tls_ok,
                        warnings=warned,
                        strictness=tuple(w for w in warned if w in v.strict),
                    )
                )
    matrix.verifications = v.count
    if dep.profile.dn_authorization:
        for spec in dep.cas:
            chain = inv.chain_of(spec)
            if chain:
                matrix.dn_authorization.append(
                    (spec.primary.name, chain[0].subject.rfc4514_string())
                )
    return matrix


# ---------------------------------------------------------------------------- rotation


@dataclass(frozen=True)
class RotationStep:
    order: int
    text: str


def third_party_steps(identity: str, *, switching: bool) -> str:
    """What to run for a rotation of ``identity`` to a third-party certificate, whose
    issuer (and so the trust-store changes) is known once the CA has answered;
    ``switching``: the deployment file gives the identity another source still, so the
    file changes first (else the next ``apply`` replaces the CA's certificate)."""
    steps = (
        f'set source = "third-party" for {identity} in the deployment file and apply it '
        "(`ccapki apply FILE`), then "
        if switching
        else ""
    )
    return (
        f"{steps}make the CSR (`ccapki csr {identity}`), import the certificate, then run "
        "`ccapki trust plan` for the trust-store changes"
    )


def rotation_plan(
    inv: Inventory,
    identity: str,
    new_chain: Sequence[x509.Certificate],
    now: dt.datetime,
    *,
    created: Sequence[str] = (),
) -> tuple[list[str], list[RotationStep]]:
    """If ``identity`` switched to ``new_chain``: what breaks now, and the safe order.

    ``new_chain`` is a what-if (minted and rolled back), and so are the CAs ``created``
    names: a step adding one of them gives its expiry, not its fingerprint (the certificate
    really made later is another)."""
    dep = inv.deployment
    spec = dep.identity(identity)
    new_idents = dict(inv.identities)
    old = inv.identities.get(spec.name)
    new_idents[spec.name] = StoredIdentity(
        name=spec.name,
        version=(old.version + 1) if old else 1,
        certificate=new_chain[0],
        chain=tuple(new_chain[1:]),
        source=spec.source,  # not read: a what-if is about trust only
        spki="",
        fingerprint=fingerprint(new_chain[0]),
        created_at=now,
    )
    swapped = Inventory(
        dep,
        new_idents,
        inv.trust,
        inv.perfigo,
        inv.internal,
        (*inv.cas, *new_chain[1:]),
        inv.by_hand,
    )
    before = check_deployment(inv, now, ())
    after = check_deployment(swapped, now, ())
    mutual = {Channel.CAM_CAS, Channel.HA_HEARTBEAT}
    ok_before = {(c.appliance, c.channel) for c in before.cells if c.ok and c.channel in mutual}
    # a what-if: the new certificate is not in the store, so `trust apply` cannot add it yet
    # (the safe order below says when to)
    breaks = [
        f"{c.appliance} {c.channel.value}: "
        + (c.findings[0].replace(_TRUST_APPLY, "") if c.findings else "fails")
        for c in after.cells
        if c.channel in mutual and not c.ok and (c.appliance, c.channel) in ok_before
    ]
    # the safe order comes from the pure planner: trust the new issuer wherever the identity
    # is verified, swap (both HA peers at once), retire the old issuer where nothing needs it
    cams = [m.name for m in dep.cam.members]
    if spec.role is Role.CAM:
        verifiers = [m.name for s in dep.cas for m in s.members]
    else:
        verifiers = list(cams)
    if spec.ha:
        verifiers += [m.name for m in spec.members]
    wanted = set(verifiers)
    verifiers = [a.name for a in dep.appliances if a.name in wanted]  # deployment order
    old_chain = inv.chain_of(spec) or tuple(new_chain)
    plan = pure_rotation_plan(
        spec.name,
        old_chain,
        new_chain,
        {a.name: list(inv.trust.get(a.name, ())) for a in dep.appliances},
        verifiers=verifiers,
        installed_on=[m.name for m in spec.members],
        cams=cams,
        still_needed=required_trust(swapped),
        candidates=(*inv.cas, *new_chain[1:]),
        owners=_owners(swapped),
    )
    cands = (*inv.cas, *new_chain[1:])
    anchor = required_anchor(new_chain, cands)
    # the same issuer (a new key and certificate from the same CA): no trust-store change
    same = fingerprint(required_anchor(old_chain, cands)) == fingerprint(anchor)
    previews = {fingerprint(new_chain[0])} | {
        fingerprint(c) for c in new_chain[1:] if display_name(c) in created
    }
    steps: list[RotationStep] = []
    for order, step in enumerate(plan.steps, start=1):
        if same and step.phase == "trust-new":
            steps.append(
                RotationStep(
                    order,
                    f"keep the issuer {display_name(anchor)}: every trust store that verifies "
                    f"{spec.name} trusts it already (nothing to add)",
                )
            )
        elif same and step.phase == "retire-old":
            steps.append(
                RotationStep(
                    order,
                    f"nothing to retire: {spec.name}'s issuer stays {display_name(anchor)}",
                )
            )
        elif step.phase == "swap":
            peers = " and ".join(m.name for m in spec.members)
            steps.append(
                RotationStep(
                    order,
                    f"swap {spec.name}'s identity to {display_name(new_chain[0])} "
                    f"(issuer {issuer_display_name(new_chain[0])}) on {peers}"
                    + (" at once (one identity for the HA pair)" if spec.ha else ""),
                )
            )
        elif step.changes:
            prefix = "retire the old issuer: " if step.phase == "retire-old" else ""
            steps += [
                RotationStep(order, f"{prefix}{_what_if_identified(ch, previews)}")
                for ch in step.changes
            ]
        else:
            steps.append(RotationStep(order, step.text))
    return breaks, steps


def _what_if_identified(change: Change, previews: set[str]) -> str:
    """``change.identified``, but for a what-if certificate: its expiry alone."""
    if change.fingerprint not in previews:
        return change.identified
    until = change.certificate.not_valid_after_utc
    return f"{change.text} [a new certificate, made when you rotate: expires {until:%Y-%m-%d}]"


def client_trust_roots(
    clients: str, inv: Inventory
) -> tuple[list[x509.Certificate], frozenset[str]]:
    """The client root store ``trust check`` judges the client channels against, and the
    fingerprints of the common OS roots.

    ``clients`` is ``"installed"`` (the OS roots plus the roots ccapki says to install),
    ``"mozilla"`` (the OS roots only: the certifi bundle) or the path of a bundle file.
    Raises :class:`InputError` / :class:`FileFormatError` for a file that cannot be read.
    """
    from ccapki.lifecycle.certfiles import public_roots
    from ccapki.trust import required_anchor

    public = list(public_roots())
    public_fps = frozenset(fingerprint(c) for c in public)
    if clients == "mozilla":
        return public, public_fps
    if clients == "installed":
        extra = []
        for spec in inv.deployment.identities:
            chain = inv.chain_of(spec)
            if chain:
                extra.append(required_anchor(chain, inv.cas))
        return public + extra, public_fps
    from ccapki.errors import PasswordError
    from ccapki.fsutil import read_input_file
    from ccapki.pki.formats import parse_material, require_certificates

    roots_only = (
        "--clients names the CA certificates the clients trust, never a key: give them as "
        "PEM, DER or PKCS#7 (`ccapki export-roots --out DIR` writes the store's)"
    )
    try:
        material = parse_material(read_input_file(clients), source=clients)
    except PasswordError as exc:  # `trust check` takes no password
        if "PKCS#12" not in exc.message:  # an encrypted private key: never a client bundle
            raise PasswordError(exc.message, roots_only) from None
        raise PasswordError(
            exc.message,
            f"take the certificates out first (`openssl pkcs12 -in {clients} -nokeys -out "
            "clients.pem`), then give --clients clients.pem",
        ) from None
    return list(require_certificates(material, key_only_hint=roots_only)), public_fps
