"""The FAQ's four CAM/CAS cases, the anchor each side must trust, and trust-store changes.

Pure helpers for ``trust check`` / ``trust plan``: they take certificates and return
values; wiring them to the store and the topology happens elsewhere.

The FAQ (CCA 4.5+: "they both need to trust each other's certificates"):

- third-party CA: "take the root CAs which signed the Identity certificates and place
  them in the Trusted Certificate Authorities stores of the other device";
- Perfigo root: "make sure that the perfigo root cert exists in the trusted root
  stores of the CAM and the CAS";
- true self-signed: "take the CAM certificate and place it in the Trusted Certificate
  Authorities tab on the CAS, and take the CAS certificate and place it in the Trusted
  Certificate Authorities on the CAM";
- internal PKI: "take the root CA from your internal setup and ensure that it exists
  in both the Trusted Certificate Authorities on the CAM and CAS".
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509

from ccapki.errors import InputError
from ccapki.pki.certs import display_name, fingerprint, is_ca, is_self_signed
from ccapki.pki.chain import extend_chain

__all__ = [
    "CAM_TRUST_PATH",
    "CAS_TRUST_PATH",
    "Case",
    "CaseKind",
    "Change",
    "RotationPlan",
    "RotationStep",
    "classify_link",
    "complete_chain",
    "describe_certificate",
    "required_anchor",
    "rotation_plan",
    "trust_store_changes",
]

#: Where each appliance's trust store lives in its GUI.
CAM_TRUST_PATH = "CCA Manager > SSL > Trusted Certificate Authorities"
CAS_TRUST_PATH = "SSL > Trusted Certificate Authorities"


class CaseKind(enum.StrEnum):
    """The FAQ's four cases of CAM/CAS mutual SSL."""

    THIRD_PARTY = "third-party CA"
    PERFIGO = "perfigo root"
    SELF_SIGNED = "true self-signed"
    INTERNAL = "internal PKI"


_REQUIRES: dict[CaseKind, str] = {
    CaseKind.THIRD_PARTY: (
        "take the root CA which signed the identity certificate ({anchor}) and place it in "
        "the Trusted Certificate Authorities store of the other device"
    ),
    CaseKind.PERFIGO: (
        "make sure that the Perfigo root certificate ({anchor}) exists in the trusted root "
        f"stores of the CAM ({CAM_TRUST_PATH}) and the CAS ({CAS_TRUST_PATH})"
    ),
    CaseKind.SELF_SIGNED: (
        "take the CAM certificate and place it in the Trusted Certificate Authorities on the "
        "CAS, and take the CAS certificate and place it in the Trusted Certificate "
        "Authorities on the CAM (here: {anchor} itself)"
    ),
    CaseKind.INTERNAL: (
        "take the root CA from your internal setup ({anchor}) and ensure that it exists in "
        "both the Trusted Certificate Authorities on the CAM and CAS"
    ),
}


@dataclass(frozen=True)
class Case:
    """Which FAQ case an identity falls in on a CAM/CAS link, and what it requires.

    ``anchor`` is the certificate the other side must trust (``None`` when the chain
    cannot be completed: its root is unknown); ``satisfied`` says whether the given
    trust store already holds it.
    """

    kind: CaseKind
    anchor: x509.Certificate | None
    anchor_name: str
    requires: str
    satisfied: bool

    @property
    def name(self) -> str:
        return self.kind.value


def complete_chain(
    chain: Sequence[x509.Certificate], pool: Sequence[x509.Certificate] = ()
) -> tuple[x509.Certificate, ...]:
    """``chain`` (leaf first) extended upwards with issuers found in ``pool``."""
    if not chain:
        raise InputError("an empty certificate chain", "give at least the identity certificate")
    return extend_chain(chain, pool)


def required_anchor(
    chain: Sequence[x509.Certificate], candidates: Sequence[x509.Certificate] = ()
) -> x509.Certificate:
    """The certificate the other side must trust for ``chain`` (leaf first).

    The root at the top of the chain (completed from ``candidates`` when the chain
    stops below its root); for a true self-signed identity, the leaf itself. When the
    root cannot be found, the highest certificate known (cryptography accepts any
    certificate in the store as an anchor).
    """
    return complete_chain(chain, candidates)[-1]


def classify_link(
    identity_chain: Sequence[x509.Certificate],
    trust_store: Sequence[x509.Certificate],
    *,
    perfigo_fingerprints: Collection[str] = frozenset(),
    internal_fingerprints: Collection[str] = frozenset(),
    candidates: Sequence[x509.Certificate] = (),
) -> Case:
    """The FAQ case for an identity (``identity_chain``, leaf first) seen by a peer.

    ``trust_store`` is the verifying peer's Trusted Certificate Authorities (also used,
    with ``candidates``, to complete a chain sent without its root). Fingerprints are
    SHA-256 of the certificate DER (lowercase hex): ``perfigo_fingerprints`` names the
    Perfigo root(s), ``internal_fingerprints`` the certificates of our internal PKI (its
    root or intermediates). Anything else signed by a CA is a third-party CA.
    """
    chain = complete_chain(identity_chain, [*trust_store, *candidates])
    leaf, top = chain[0], chain[-1]
    fps = [fingerprint(c) for c in chain]
    store_fps = {fingerprint(c) for c in trust_store}
    perfigo = {f.lower() for f in perfigo_fingerprints}
    internal = {f.lower() for f in internal_fingerprints}
    if len(chain) == 1 and is_self_signed(leaf):
        kind = CaseKind.SELF_SIGNED
    elif any(f in perfigo for f in fps[1:]):
        kind = CaseKind.PERFIGO
    elif any(f in internal for f in fps[1:]):
        kind = CaseKind.INTERNAL
    else:
        kind = CaseKind.THIRD_PARTY
    anchor = top if is_self_signed(top) else None
    top_name = display_name(top)
    anchor_name = top_name if anchor is not None else f"the CA that issued {top_name}"
    satisfied = any(f in store_fps for f in fps)
    return Case(
        kind=kind,
        anchor=anchor,
        anchor_name=anchor_name,
        requires=_REQUIRES[kind].format(anchor=anchor_name),
        satisfied=satisfied,
    )


def describe_certificate(
    cert: x509.Certificate,
    *,
    perfigo_fingerprints: Collection[str] = frozenset(),
    owners: Mapping[str, str] | None = None,
) -> str:
    """How the GUI-worded plan names a certificate.

    ``owners`` maps a fingerprint to the appliance role that presents it (e.g. "the
    CAM", "CAS cas-dorm"), giving "the CAM's certificate (true self-signed)".
    """
    fp = fingerprint(cert)
    owner = (owners or {}).get(fp)
    if fp in {f.lower() for f in perfigo_fingerprints}:
        return f"the Perfigo root ({display_name(cert)})"
    if owner is not None:
        kind = "true self-signed" if is_self_signed(cert) else "identity"
        return f"{owner}'s certificate ({kind})"
    if is_self_signed(cert) and not is_ca(cert):
        return f"{display_name(cert)}'s certificate (true self-signed)"
    if is_self_signed(cert):
        return f"root CA {display_name(cert)}"
    if is_ca(cert):
        return f"intermediate CA {display_name(cert)}"
    return f"certificate {display_name(cert)}"


@dataclass(frozen=True)
class Change:
    """One trust-store change, in the appliance GUI's words (``str(change)``)."""

    action: Literal["add", "remove"]
    appliance: str
    role: Literal["cam", "cas"]
    certificate: x509.Certificate
    description: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def gui_path(self) -> str:
        return CAM_TRUST_PATH if self.role == "cam" else CAS_TRUST_PATH

    @property
    def text(self) -> str:
        where = f"{'CAM' if self.role == 'cam' else 'CAS'} {self.appliance}: {self.gui_path}"
        prep = "to" if self.action == "add" else "from"
        return f"{self.action} {self.description} {prep} {where}"

    @property
    def identified(self) -> str:
        """:attr:`text` and which certificate it is: the first 16 hex digits of its SHA-256
        fingerprint (as ``trust list`` shows them) and its expiry, so that the certificate a
        rotation adds and the one it removes can be told apart."""
        until = self.certificate.not_valid_after_utc
        return f"{self.text} [SHA-256 {self.fingerprint[:16]}, expires {until:%Y-%m-%d}]"

    def __str__(self) -> str:
        return self.text


def trust_store_changes(
    current: Mapping[str, Sequence[x509.Certificate]],
    required: Mapping[str, Sequence[x509.Certificate]],
    *,
    cams: Collection[str] = (),
    prune: bool = False,
    perfigo_fingerprints: Collection[str] = frozenset(),
    owners: Mapping[str, str] | None = None,
) -> list[Change]:
    """The smallest set of changes taking each trust store from ``current`` to ``required``.

    Keys are appliance names; ``cams`` names the CAM appliances (both peers of an HA
    pair), every other appliance is a CAS. Only what is missing is added; with
    ``prune`` a certificate no longer required is also removed (rotation: retire the
    old issuer), else other certificates are left alone. Adds come before removes,
    appliances in the order given, certificates by the order in ``required``.
    Certificates are compared by DER fingerprint, so re-parsed copies are equal.
    """
    cam_names = set(cams)
    names = list(dict.fromkeys([*required, *current]))
    adds: list[Change] = []
    removes: list[Change] = []
    texts: dict[str, str] = {}  # one description per certificate, however many stores

    def describe(fp: str, cert: x509.Certificate) -> str:
        if fp not in texts:
            texts[fp] = describe_certificate(
                cert, perfigo_fingerprints=perfigo_fingerprints, owners=owners
            )
        return texts[fp]

    # thousands of stores name the same few certificate objects: hash each object once
    fps: dict[int, tuple[x509.Certificate, str]] = {}

    def fp_of(cert: x509.Certificate) -> str:
        found = fps.get(id(cert))
        if found is None or found[0] is not cert:
            found = fps[id(cert)] = (cert, fingerprint(cert))
        return found[1]

    for name in names:
        role: Literal["cam", "cas"] = "cam" if name in cam_names else "cas"
        have = {fp_of(c) for c in current.get(name, ())}
        want: dict[str, x509.Certificate] = {}
        for cert in required.get(name, ()):
            want.setdefault(fp_of(cert), cert)
        for fp, cert in want.items():
            if fp not in have:
                adds.append(Change("add", name, role, cert, describe(fp, cert)))
        if prune and name in required:
            seen: set[str] = set()
            for cert in current.get(name, ()):
                fp = fp_of(cert)
                if fp in want or fp in seen:
                    continue
                seen.add(fp)
                removes.append(Change("remove", name, role, cert, describe(fp, cert)))
    return adds + removes


@dataclass(frozen=True)
class RotationStep:
    """One step of a safe certificate rotation, in order."""

    phase: Literal["trust-new", "swap", "retire-old"]
    text: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class RotationPlan:
    """What breaks if ``identity`` is swapped now, and the safe order that breaks nothing."""

    identity: str
    breaks: tuple[str, ...]
    steps: tuple[RotationStep, ...]


def rotation_plan(
    identity: str,
    old_chain: Sequence[x509.Certificate],
    new_chain: Sequence[x509.Certificate],
    current: Mapping[str, Sequence[x509.Certificate]],
    *,
    verifiers: Sequence[str],
    installed_on: Sequence[str],
    cams: Collection[str] = (),
    still_needed: Mapping[str, Sequence[x509.Certificate]] | None = None,
    candidates: Sequence[x509.Certificate] = (),
    owners: Mapping[str, str] | None = None,
) -> RotationPlan:
    """Replace ``identity``'s chain ``old_chain`` by ``new_chain`` without an outage.

    ``verifiers`` are the appliances whose trust stores must accept the identity (the
    other side of each CAM/CAS link, and the HA peers themselves); ``installed_on`` are
    the appliances presenting it (both peers of an HA pair, swapped together).
    ``still_needed`` lists, per appliance, anchors other identities still rely on, so
    the old anchor is retired only where nothing else needs it. ``breaks`` names the
    verifiers that would refuse the new certificate if it were swapped in first.
    Order: add the new anchor everywhere, swap the identity, retire the old anchor.
    """
    new_anchor = required_anchor(new_chain, candidates)
    old_anchor = required_anchor(old_chain, candidates)
    new_fp, old_fp = fingerprint(new_anchor), fingerprint(old_anchor)
    breaks = tuple(
        v for v in verifiers if new_fp not in {fingerprint(c) for c in current.get(v, ())}
    )
    add = trust_store_changes(
        {v: current.get(v, ()) for v in verifiers},
        {v: [*current.get(v, ()), new_anchor] for v in verifiers},
        cams=cams,
        owners=owners,
    )
    keep = still_needed or {}
    retire: list[Change] = []
    if old_fp != new_fp:
        for v in verifiers:
            held = {fingerprint(c) for c in current.get(v, ())}
            needed = {fingerprint(c) for c in keep.get(v, ())}
            if old_fp in held and old_fp not in needed:
                role: Literal["cam", "cas"] = "cam" if v in set(cams) else "cas"
                text = describe_certificate(old_anchor, owners=owners)
                retire.append(Change("remove", v, role, old_anchor, text))
    peers = " and ".join(installed_on)
    steps = [
        RotationStep(
            "trust-new",
            f"add the new issuer of {identity} to every trust store that verifies it"
            + ("" if add else " (already there: nothing to do)"),
            tuple(add),
        ),
        RotationStep(
            "swap",
            f"install the new certificate and key of {identity} on {peers} at the same time "
            "(HA peers share one identity; a mismatch breaks the heartbeat)",
        ),
        RotationStep(
            "retire-old",
            f"retire the old issuer of {identity} where nothing else needs it"
            + ("" if retire else " (still needed or already gone: nothing to do)"),
            tuple(retire),
        ),
    ]
    return RotationPlan(identity, breaks, tuple(steps))
