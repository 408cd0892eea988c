"""``ccapki renew``: reissue what is due, in an order that never breaks a channel.

:func:`plan_renewal` decides, from the store's facts at an explicit ``now``, which
identities are renewed (those inside their renewal window, or whose issuer is, and those
named: an HA pair is one identity), how (internal, self-signed and Perfigo-style
identities are reissued directly; a third-party one gets a new CSR, its current
certificate staying current until the CA's answer is imported), on which key (the
deployment's ``[renewal] key`` policy), from which issuer (a successor when the current one
would not outlive the renewed certificates), and the safe order: trust-store additions
first, then the identities, then retiring the old issuer where nothing needs it any more
(the trust planner of ``trust plan --rotate``: :func:`~ccapki.lifecycle.trustops.trust_changes`
on the inventory as it will be). Planning writes nothing.

:func:`commit_renewal` carries a plan out: issues outside the write lock (with ``apply``'s
machinery), then checks under the lock that nothing changed meanwhile and writes every
renewal, new issuer, trust-store addition, CSR and audit entry in one transaction: an
interruption or an error keeps nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ccapki._util import written_at
from ccapki.errors import InputError, Interrupted, StoreBusy, StoreError
from ccapki.lifecycle.csrdelivery import Undelivered, awaits_the_ca, undelivered_csrs
from ccapki.lifecycle.trustops import Inventory, load_inventory, required_trust, trust_changes
from ccapki.pki.certs import days_left, display_name, fingerprint, renewal_window
from ccapki.pki.expiry import ca_successor_reason, expiry_on_words
from ccapki.pki.issue import (
    Issuer,
    fit_name,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from ccapki.pki.signer import SignerKey
from ccapki.store.records import CsrRecord, IdentityRecord, KeyState, StoredIdentity
from ccapki.store.session import Store
from ccapki.topology.model import Deployment, KeyPolicy, Source
from ccapki.topology.plan import (
    INTERNAL_CA,
    INTERNAL_ROOT,
    PERFIGO_ROOT,
    ActionKind,
    Plan,
    PlannedIdentity,
    make_plan,
    pending_actions,
    signer_for,
)
from ccapki.trust import Change

__all__ = [
    "ACME_SKIP",
    "UNWRITTEN_SKIP",
    "CsrMade",
    "NewIssuer",
    "RenewalItem",
    "RenewalPlan",
    "RenewalResult",
    "RenewalStep",
    "Renewed",
    "RenewedElsewhere",
    "Skipped",
    "commit_renewal",
    "plan_renewal",
]

Phase = Literal["issuer", "trust", "identity", "retire"]

#: The key type of each kind of CA ccapki makes (as ``apply`` makes the first ones).
_CA_KEYS: Mapping[str, KeyType] = {
    PERFIGO_ROOT: KeyType.RSA_2048,
    INTERNAL_ROOT: KeyType.ECDSA_P384,
    INTERNAL_CA: KeyType.ECDSA_P256,
}
_GENERATION = re.compile(r" G\d+$")


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True)
class NewIssuer:
    """A CA ccapki makes to sign renewed identities: the successor of ``replaces``, which
    would not outlive them (or is inside its own renewal window)."""

    kind: str  # perfigo-root | internal-root | internal-ca
    name: str  # the new CA's common name ("... G2")
    replaces: str  # the current CA's name
    replaces_fingerprint: str
    replaces_not_after: dt.datetime
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "replaces": self.replaces,
            "replaces_fingerprint": self.replaces_fingerprint,
            "replaces_not_after": self.replaces_not_after.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RenewalItem:
    """One identity the plan renews (an HA pair once)."""

    identity: str
    role: str  # cam | cas
    source: Source
    installed_on: tuple[str, ...]
    #: ``reissue``: ccapki issues it now; ``csr``: a third-party CA signs a new CSR
    action: Literal["reissue", "csr"]
    signer: str  # "self", a CA kind, or "third-party"
    #: the key the renewal uses: a new one (rotate) or the current one (keep)
    key: KeyPolicy
    reason: str
    due: bool  # inside its (or its issuer's) renewal window; False: renewed as named
    version: int  # the current version (the renewal makes the next)
    fingerprint: str  # the current certificate's (checked again when committing)
    spki: str  # the current key's
    not_after: dt.datetime
    days_left: int
    validity_days: int | None  # a direct reissue's validity; None for a CSR
    issuer: str  # who signs the renewed certificate ("self-signed", a CA's name, "the CA")
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "role": self.role,
            "source": self.source.value,
            "installed_on": list(self.installed_on),
            "ha_pair": len(self.installed_on) == 2,
            "action": self.action,
            "key": self.key.value,
            "reason": self.reason,
            "due": self.due,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "validity_days": self.validity_days,
            "issuer": self.issuer,
            "note": self.note,
        }


#: The reason of a :class:`Skipped` ACME identity: renewed by an ACME order (the CLI's
#: ``renew --commit`` runs it after the rest; ``ccapki acme order`` alone).
ACME_SKIP = "an ACME identity: renewed by an ACME order, not a CSR"


#: How the reason of a :class:`Skipped` third-party identity begins when the store keeps a
#: CSR of it whose file a stopped run never wrote (``renew --commit`` writes it: the plan's
#: ``undelivered``), instead of making another CSR on another key.
UNWRITTEN_SKIP = "the run that made its CSR was stopped before it finished"


@dataclass(frozen=True)
class Skipped:
    """An identity asked for (or due) that this renewal leaves alone, and what to do."""

    identity: str
    reason: str
    hint: str

    def to_dict(self) -> dict[str, str]:
        return {"identity": self.identity, "reason": self.reason, "hint": self.hint}


@dataclass(frozen=True)
class RenewalStep:
    """One step of the safe order: ``order`` 1 before the new certificates are served
    (new issuers, trust-store additions), 2 the identities, 3 after (retire the old
    issuer)."""

    order: int
    phase: Phase
    text: str
    identity: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "order": self.order,
            "phase": self.phase,
            "text": self.text,
            "identity": self.identity,
        }


@dataclass(frozen=True)
class RenewalPlan:
    """What :func:`plan_renewal` decided (nothing written). ``steps`` is the safe order;
    ``ca_seen`` the newest CA of each kind when planned (committing checks it again)."""

    deployment: str
    now: dt.datetime
    key_policy: KeyPolicy
    items: tuple[RenewalItem, ...]
    new_issuers: tuple[NewIssuer, ...]
    steps: tuple[RenewalStep, ...]
    skipped: tuple[Skipped, ...] = ()
    #: the identity whose renewal window opens next, and when (None: none held, or every
    #: window open already)
    next_due: tuple[str, dt.datetime] | None = None
    ca_seen: Mapping[str, str] = field(default_factory=dict)
    #: when the run that made the plan began (the machine's clock, never a what-if one):
    #: an identity another run renews after it is not renewed again by this one
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: the ACME identities left to an ACME order (``ACME_SKIP``): the version and
    #: certificate fingerprint each had when planned (ordering checks them again, under the
    #: write lock: :func:`ccapki.lifecycle.acme.order_renewals`)
    acme_seen: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: third-party identities whose CSR the store keeps (its key pending) but no file
    #: holds: the run making it was stopped between its commit and the file
    #: (:mod:`ccapki.lifecycle.csrdelivery`); ``renew --commit`` writes it, no new CSR
    undelivered: tuple[Undelivered, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether there is nothing to renew."""
        return not self.items

    def to_dict(self) -> dict[str, object]:
        return {
            "deployment": self.deployment,
            "now": self.now.isoformat(),
            "key_policy": self.key_policy.value,
            "items": [i.to_dict() for i in self.items],
            "new_issuers": [n.to_dict() for n in self.new_issuers],
            "steps": [s.to_dict() for s in self.steps],
            "skipped": [s.to_dict() for s in self.skipped],
            "undelivered": [u.to_dict() for u in self.undelivered],
            "next_due": (
                {"identity": self.next_due[0], "at": self.next_due[1].isoformat()}
                if self.next_due
                else None
            ),
        }


@dataclass(frozen=True)
class Renewed:
    """An identity reissued: its new version."""

    identity: str
    version: int
    previous_version: int
    fingerprint: str
    not_after: dt.datetime
    same_key: bool
    issuer: str

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "version": self.version,
            "previous_version": self.previous_version,
            "fingerprint": self.fingerprint,
            "not_after": self.not_after.isoformat(),
            "same_key": self.same_key,
            "issuer": self.issuer,
        }


@dataclass(frozen=True)
class RenewedElsewhere:
    """An identity of the plan that another run renewed (or changed) while this one ran:
    left as that run made it, not renewed again."""

    identity: str
    planned_version: int  # the version this run planned from
    version: int | None  # its current version (None: it is gone)
    at: dt.datetime | None  # when the other run wrote it (None: unknown)
    #: ``renewed``; ``csr``: a renewal CSR made; ``changed``: another change (apply, import);
    #: ``ordering``: an ACME order of it in flight, made by another run at ``at``
    how: Literal["renewed", "csr", "changed", "ordering"]

    def message(self, *, anything_renewed: bool = False) -> str:
        """The line that says so, and how to renew it once more."""
        when = f" at {self.at:%Y-%m-%d %H:%M:%S} UTC" if self.at is not None else ""
        now = f"now v{self.version}" if self.version is not None else "it is gone"
        done = f"{self.identity} not renewed" if anything_renewed else "nothing renewed"
        if self.how == "ordering":
            since = f"since {self.at:%Y-%m-%d %H:%M:%S} UTC; " if self.at is not None else ""
            return (
                f"{self.identity} is being ordered from the ACME CA by another run ({since}"
                f"{now}; this one planned from v{self.planned_version}): {done}; run "
                f"`ccapki renew {self.identity} --commit` again once that run is done, to "
                "renew once more"
            )
        what = {"renewed": "renewed", "csr": "given a renewal CSR", "changed": "changed"}[self.how]
        return (
            f"{self.identity} was {what}{when} by another run ({now}; this one planned from "
            f"v{self.planned_version}): {done}; run `ccapki renew {self.identity} --commit` "
            "again to renew once more"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "planned_version": self.planned_version,
            "version": self.version,
            "at": self.at.isoformat() if self.at is not None else None,
            "how": self.how,
        }


@dataclass(frozen=True)
class CsrMade:
    """A third-party identity's renewal CSR: on a new pending key (``pending``), or signed
    with the current key (key policy keep: no pending key is made)."""

    identity: str
    csr: x509.CertificateSigningRequest
    spki: str
    pending: bool
    #: a CSR an earlier run made and the store kept but never handed over (the Python
    #: API hands it over again: the same CSR and key); ``path``: where ccapki wrote it
    again: bool = False
    path: str | None = None

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.csr.public_bytes(serialization.Encoding.PEM)

    def to_dict(self) -> dict[str, object]:
        return {"identity": self.identity, "spki": self.spki, "pending_key": self.pending}


@dataclass(frozen=True)
class RenewalResult:
    """What :func:`commit_renewal` wrote. ``retire``: the trust-store removals to make once
    every appliance serves the new certificates (left to ``ccapki trust apply --prune``);
    ``elsewhere``: identities another ccapki renewed or changed meanwhile (left as they
    are; ``renewed_elsewhere`` says by what and when)."""

    renewed: tuple[Renewed, ...] = ()
    csrs: tuple[CsrMade, ...] = ()
    created_cas: tuple[str, ...] = ()
    trust_added: tuple[str, ...] = ()
    retire: tuple[str, ...] = ()
    elsewhere: tuple[str, ...] = ()
    renewed_elsewhere: tuple[RenewedElsewhere, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "renewed": [r.to_dict() for r in self.renewed],
            "csrs": [c.to_dict() for c in self.csrs],
            "created_cas": list(self.created_cas),
            "trust_added": list(self.trust_added),
            "retire": list(self.retire),
            "elsewhere": list(self.elsewhere),
            "renewed_elsewhere": [e.to_dict() for e in self.renewed_elsewhere],
        }


# ---------------------------------------------------------------------------- planning


def plan_renewal(
    store: Store,
    deployment: Deployment,
    *,
    now: dt.datetime,
    names: Sequence[str] = (),
    due: bool = True,
    started: dt.datetime | None = None,
) -> RenewalPlan:
    """Which identities of ``deployment`` to renew at ``now``, how, and in which order.

    ``due``: every identity whose certificate (or an issuer of its chain) is inside its
    renewal window (:func:`ccapki.pki.certs.renewal_window`) or expired; ``names``:
    identities (or appliances: an HA peer means its pair) renewed even when not due. Both
    given: both sets. An identity with no certificate yet, or whose deployment file
    changed (names, key type, source: ``ccapki apply`` reissues it) is ``skipped``, as is
    a due third-party identity with a CSR newer than its certificate (awaiting the CA).

    Pure decisions from the store's facts: nothing is written, no key is unsealed (the
    new issuers' and self-signed certificates the order is computed with are throwaway
    previews). ``started``: when the run began by the machine's clock (default: now), so
    that an identity another run renews after it is not renewed twice (see
    :func:`commit_renewal`). Returns a :class:`RenewalPlan`; raises :class:`InputError`
    for a name the deployment does not have (the hint lists them).
    """
    from dataclasses import replace

    began = started or dt.datetime.now(dt.UTC)
    wanted = _resolve(deployment, names)
    with store.scoped(deployment.name):
        return replace(_plan(store, deployment, now, wanted, due), started=began)


def _resolve(dep: Deployment, names: Sequence[str]) -> set[str]:
    """The identity names ``names`` mean (an appliance: its identity)."""
    index: dict[str, str] = {i.name: i.name for i in dep.identities}
    for ident in dep.identities:
        for m in ident.members:
            index.setdefault(m.name, ident.name)
    unknown = [n for n in dict.fromkeys(names) if n not in index]
    if unknown:
        what = ", ".join(repr(n) for n in unknown)
        apps = ", ".join(a.name for a in dep.appliances)
        ids = ", ".join(i.name for i in dep.identities)
        raise InputError(
            f"no identity or appliance named {what} in deployment {dep.name!r} (nothing "
            "was renewed)",
            f"name an identity ({ids}) or an appliance ({apps}); an HA peer means its pair",
        )
    return {index[n] for n in names}


def _when(cert: x509.Certificate, now: dt.datetime) -> str:
    return expiry_on_words(cert.not_valid_after_utc, now)  # hours within 24 h


def _in_window(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Inside its renewal window, or expired."""
    return cert.not_valid_after_utc - now <= renewal_window(cert)


def _successor_name(cert: x509.Certificate, generation: int) -> str:
    return fit_name(_GENERATION.sub("", display_name(cert)), f"G{generation}")


@dataclass
class _Issuers:
    """The newest CA of each kind, and the successors the plan makes."""

    newest: dict[str, x509.Certificate]
    counts: dict[str, int]
    new: dict[str, NewIssuer] = field(default_factory=dict)

    def chain(self, signer: str) -> tuple[x509.Certificate, ...] | None:
        """The current CA chain of ``signer`` (None: a CA of it is missing)."""
        kinds = {PERFIGO_ROOT: (PERFIGO_ROOT,), INTERNAL_CA: (INTERNAL_CA, INTERNAL_ROOT)}
        found = [self.newest.get(k) for k in kinds.get(signer, ())]
        if not found or any(c is None for c in found):
            return None
        return tuple(c for c in found if c is not None)

    def successor(self, kind: str, reason: str) -> NewIssuer:
        if kind not in self.new:
            old = self.newest[kind]
            self.new[kind] = NewIssuer(
                kind=kind,
                name=_successor_name(old, self.counts.get(kind, 1) + 1),
                replaces=display_name(old),
                replaces_fingerprint=fingerprint(old),
                replaces_not_after=old.not_valid_after_utc,
                reason=reason,
            )
        return self.new[kind]


def warned_from(not_after: dt.datetime, warn_days: Sequence[int]) -> dt.datetime:
    """Return when ``status`` starts to warn of a certificate ending ``not_after`` (its
    widest ``warn_days`` stage: at most that many whole days left, as
    :func:`~ccapki.lifecycle.status.stage_for` counts). A third-party identity's renewal
    (its CSR) is due from then: the CA's answer takes time. Raises nothing."""
    widest = max(warn_days, default=0)
    return not_after - dt.timedelta(days=widest + 1)


def _stale_csr(p: PlannedIdentity, rec: CsrRecord) -> str:
    """How ``rec`` (an identity's newest CSR) differs from what the deployment file gives
    ``p`` now, in words (empty: it asks for what the file gives, or no longer parses)."""
    from ccapki.topology.plan import csr_differences

    try:
        return "; ".join(csr_differences(p.spec, rec.csr))
    except ValueError:
        return ""


def _ca_reason(cert: x509.Certificate, now: dt.datetime, days: int) -> str | None:
    """Why CA ``cert`` cannot sign a certificate valid ``days`` from ``now`` (None: it
    can): the rule
    `status` warns by too (:func:`~ccapki.pki.expiry.ca_successor_reason`)."""
    return ca_successor_reason(
        display_name(cert),
        cert.not_valid_after_utc,
        now,
        days,
        renewal_window(cert),
    )


def _plan(
    store: Store, dep: Deployment, now: dt.datetime, wanted: set[str], due: bool
) -> RenewalPlan:
    from ccapki.lifecycle.apply import current_state

    plan = make_plan(dep)
    held = store.identities.current()
    actions = {a.identity: a for a in pending_actions(plan, current_state(store, held), now)}
    cas = store.cas.list()
    counts: dict[str, int] = {}
    newest: dict[str, x509.Certificate] = {}
    for ca in cas:  # oldest first: the last of a kind is the one that signs
        counts[ca.kind] = counts.get(ca.kind, 0) + 1
        newest[ca.kind] = ca.certificate
    issuers = _Issuers(newest, counts)
    last_csr: dict[str, dt.datetime] = {}
    newest_csr: dict[str, CsrRecord] = {}
    store_csrs = store.csrs.list()
    # a CSR counts while the CA's answer is awaited: one whose key was retired (or whose
    # certificate came) awaits nothing, and never holds a renewal back
    pending = (
        {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)} if store_csrs else set()
    )
    for c in store_csrs:
        if not awaits_the_ca(c.identity, c.spki, c.created_at, pending, held):
            continue
        last_csr[c.identity] = max(c.created_at, last_csr.get(c.identity, c.created_at))
        if c.created_at >= newest_csr.get(c.identity, c).created_at:
            newest_csr[c.identity] = c
    policy = dep.monitoring.key_policy
    warn_days = dep.monitoring.warn_days
    unwritten = undelivered_csrs(store, csrs=store_csrs, current=held)
    undelivered: list[Undelivered] = []

    chosen: list[tuple[PlannedIdentity, StoredIdentity, str, bool]] = []
    skipped: list[Skipped] = []
    acme_seen: dict[str, tuple[int, str]] = {}
    next_due: tuple[str, dt.datetime] | None = None
    for p in plan.identities:
        cur = held.get(p.name)
        named = p.name in wanted
        if cur is None:
            if named:
                if p.spec.acme:
                    how = f"`ccapki acme order {p.name}` orders it from the ACME CA"
                elif p.spec.source is Source.THIRD_PARTY:
                    how = f"make its CSR (`ccapki csr {p.name}`) and import the certificate"
                else:
                    how = "`ccapki apply` issues it"
                skipped.append(Skipped(p.name, "no certificate yet: nothing to renew", how))
            continue
        cert = cur.certificate
        # a third-party CA takes time to answer: its CSR is due once status warns of it
        early = p.spec.source is Source.THIRD_PARTY and not p.spec.acme
        opens = cert.not_valid_after_utc - renewal_window(cert)
        if early:
            opens = min(opens, warned_from(cert.not_valid_after_utc, warn_days))
        # a window still to open (one open already is due, or skipped with its reason)
        if opens > now and (next_due is None or opens < next_due[1]):
            next_due = (p.name, opens)
        leaf_due = _in_window(cert, now)
        early = early and not leaf_due and warned_from(cert.not_valid_after_utc, warn_days) < now
        leaf_due = leaf_due or early
        ca_due = [c for c in cur.chain if _in_window(c, now)]
        is_due = leaf_due or bool(ca_due)
        if not (named or (due and is_due)):
            continue
        action = actions[p.name]
        if action.kind is ActionKind.REISSUE:
            skipped.append(
                Skipped(
                    p.name,
                    f"the deployment file changed it ({action.reason})",
                    "`ccapki apply` reissues it from the file",
                )
            )
            continue
        if p.spec.acme:  # ACME (issue 14): ordered, not a CSR; `renew --commit` orders it
            skipped.append(Skipped(p.name, ACME_SKIP, f"`ccapki acme order {p.name}`"))
            acme_seen[p.name] = (cur.version, cur.fingerprint)
            continue
        third = p.spec.source is Source.THIRD_PARTY
        lost = unwritten.get(p.name) if third else None
        if lost is not None and not _stale_csr(p, lost.record):
            # a stopped run kept it and its key but never wrote its file: written again,
            # not made again (another pending key for the same renewal)
            undelivered.append(lost)
            made = f"{lost.record.created_at:%Y-%m-%d %H:%M} UTC"
            where = f"{lost.path} holds it" if lost.on_disk else "its file was never written"
            skipped.append(
                Skipped(
                    p.name,
                    f"{UNWRITTEN_SKIP} ({made}): {where}; its key {lost.spki[:16]} is kept in "
                    "the store, pending",
                    "`ccapki renew --commit` writes it: the same CSR and key, no new one",
                )
            )
            continue
        pending_since = last_csr.get(p.name)
        stale = ""
        if third and not named and pending_since is not None and pending_since > cur.created_at:
            stale = _stale_csr(p, newest_csr[p.name])
        if stale:
            stale = (
                f"; its pending CSR (made {pending_since:%Y-%m-%d}) is stale: made for an "
                f"older version of the deployment file ({stale}): a new CSR replaces it"
            )
        elif third and not named and pending_since is not None and pending_since > cur.created_at:
            skipped.append(
                Skipped(
                    p.name,
                    f"a CSR made on {pending_since:%Y-%m-%d} awaits the CA's certificate",
                    "import what the CA returns (`ccapki import FILE`); `ccapki renew "
                    f"{p.name} --commit` makes another CSR",
                )
            )
            continue
        if early:
            reason = (
                f"{_when(cert, now)}: in its warning stage, the CSR goes to the CA now "
                "(its answer takes time)"
            )
        elif leaf_due:
            reason = _when(cert, now)
        elif ca_due:
            first = ca_due[0]
            reason = f"its issuer {display_name(first)} {_when(first, now)}"
        else:
            reason = f"not due ({_when(cert, now)}): renewed as named"
        chosen.append((p, cur, reason + stale, is_due))

    # successors for the CAs that would not outlive what they sign now
    for signer in dict.fromkeys(signer_for(p, dep) for p, *_ in chosen):
        chain = issuers.chain(signer)
        if chain is None:
            continue
        days = max(p.validity_days for p, *_ in chosen if signer_for(p, dep) == signer)
        root_why = _ca_reason(chain[-1], now, days)
        if root_why is not None:
            for kind in (INTERNAL_ROOT, INTERNAL_CA) if signer == INTERNAL_CA else (signer,):
                issuers.successor(kind, root_why)
        elif len(chain) > 1:
            inter_why = _ca_reason(chain[0], now, days)
            if inter_why is not None:
                issuers.successor(INTERNAL_CA, inter_why)

    items: list[RenewalItem] = []
    for p, cur, reason, is_due in chosen:
        signer = signer_for(p, dep)
        third = signer == "third-party"
        if not third and signer != "self" and issuers.chain(signer) is None:
            skipped.append(
                Skipped(
                    p.name,
                    f"the store holds no {signer} CA to sign it",
                    "`ccapki apply` makes the CA and issues it",
                )
            )
            continue
        key, note = policy, ""
        if policy is KeyPolicy.KEEP and not store.keys.has(cur.spki):
            key, note = KeyPolicy.ROTATE, "the store holds no key for it: a new key"
        if third:
            issuer = "the third-party CA"
        elif signer == "self":
            issuer = "self-signed"
        else:
            kind = PERFIGO_ROOT if signer == PERFIGO_ROOT else INTERNAL_CA
            successor = issuers.new.get(kind)
            issuer = successor.name if successor else display_name(issuers.newest[kind])
        items.append(
            RenewalItem(
                identity=p.name,
                role=p.spec.role.value,
                source=p.spec.source,
                installed_on=p.installed_on,
                action="csr" if third else "reissue",
                signer=signer,
                key=key,
                reason=reason,
                due=is_due,
                version=cur.version,
                fingerprint=cur.fingerprint,
                spki=cur.spki,
                not_after=cur.not_after,
                days_left=days_left(cur.certificate, now),
                validity_days=None if third else p.validity_days,
                issuer=issuer,
                note=note,
            )
        )
    # a successor nothing signs (its identities were skipped) is not made
    used = {i.signer for i in items}
    new = tuple(
        n
        for n in issuers.new.values()
        if (n.kind == PERFIGO_ROOT and PERFIGO_ROOT in used)
        or (n.kind != PERFIGO_ROOT and INTERNAL_CA in used)
    )
    steps = _steps(store, dep, plan, held, items, new, now)
    seen = {k: fingerprint(c) for k, c in newest.items() if k in _CA_KEYS}
    return RenewalPlan(
        deployment=dep.name,
        now=now,
        key_policy=policy,
        items=tuple(items),
        new_issuers=new,
        steps=steps,
        skipped=tuple(skipped),
        next_due=next_due,
        ca_seen=seen,
        acme_seen=acme_seen,
        undelivered=tuple(undelivered),
    )


def _preview(
    store: Store,
    plan: Plan,
    held: Mapping[str, StoredIdentity],
    items: Sequence[RenewalItem],
    new: Sequence[NewIssuer],
    now: dt.datetime,
) -> tuple[dict[str, StoredIdentity], dict[str, x509.Certificate]]:
    """The identities as they will be once the direct renewals are in: what the trust
    planner needs (the anchor of each chain). Self-signed certificates and new roots are
    previews on throwaway keys; a certificate under an unchanged root keeps its chain's
    anchor, so its current certificate stands in for the renewed one. Also returns the
    preview roots by kind."""
    from ccapki.lifecycle.apply import ROOT_DAYS

    # a preview lasts as long as what --commit makes: the plan prints its expiry
    roots: dict[str, x509.Certificate] = {}
    for n in new:
        if n.kind in (PERFIGO_ROOT, INTERNAL_ROOT):
            k = generate_key(KeyType.ECDSA_P256)
            roots[n.kind] = make_root_ca(n.name, k, now=now, days=ROOT_DAYS)
    roots_now: dict[str, x509.Certificate] = {}
    out = dict(held)
    for item in items:
        if item.action != "reissue":
            continue
        cur = held[item.identity]
        p = plan.get(item.identity)
        chain: tuple[x509.Certificate, ...]
        if item.signer == "self":
            k = generate_key(KeyType.ECDSA_P256)
            days = item.validity_days or p.validity_days
            leaf = issue_identity(p.request, k.public_key(), now=now, days=days, self_key=k)
            chain = (leaf,)
        else:
            root_kind = PERFIGO_ROOT if item.signer == PERFIGO_ROOT else INTERNAL_ROOT
            root = roots.get(root_kind)
            if root is None:  # unchanged: the newest root of its kind (read once)
                root = roots_now.get(root_kind)
                if root is None:
                    root = roots_now[root_kind] = store.cas.list(root_kind)[-1].certificate
            chain = (cur.certificate, root)
        out[item.identity] = StoredIdentity(
            name=item.identity,
            version=cur.version + 1,
            certificate=chain[0],
            chain=chain[1:],
            source=cur.source,
            spki="",
            fingerprint=fingerprint(chain[0]),
            created_at=now,
            deployment=cur.deployment,
        )
    return out, roots


def _steps(
    store: Store,
    dep: Deployment,
    plan: Plan,
    held: Mapping[str, StoredIdentity],
    items: Sequence[RenewalItem],
    new: Sequence[NewIssuer],
    now: dt.datetime,
) -> tuple[RenewalStep, ...]:
    """The safe order (see :class:`RenewalStep`), from ``trust plan --rotate``'s planner
    applied to every renewal at once."""
    if not items:
        return ()
    inv = load_inventory(store, dep, held)
    after, roots = _preview(store, plan, held, items, new, now)
    perfigo = {fingerprint(c) for k, c in roots.items() if k == PERFIGO_ROOT}
    internal = {fingerprint(c) for k, c in roots.items() if k == INTERNAL_ROOT}
    swapped = Inventory(
        dep,
        after,
        inv.trust,
        inv.perfigo | perfigo,
        inv.internal | internal,
        (*inv.cas, *roots.values()),
        inv.by_hand,
    )
    adds, retire = _trust_delta(inv, swapped)
    steps: list[RenewalStep] = []
    for n in new:
        steps.append(
            RenewalStep(
                1,
                "issuer",
                f"make a new issuer: {n.name} ({_kind_text(n.kind)}), replacing {n.replaces}: "
                f"{n.reason}",
            )
        )
    # a preview's fingerprint is of a throwaway key: --commit makes another certificate
    previews = {fingerprint(c) for c in roots.values()} | {
        after[i.identity].fingerprint for i in items if i.action == "reissue" and i.signer == "self"
    }
    if adds:
        steps += [RenewalStep(1, "trust", _identified(c, previews)) for c in adds]
    else:
        steps.append(
            RenewalStep(
                1, "trust", "trust stores: nothing to add (every peer already trusts the issuers)"
            )
        )
    for item in items:
        steps.append(RenewalStep(2, "identity", _item_text(item, dep), item.identity))
    if retire:
        steps += [
            RenewalStep(
                3,
                "retire",
                f"retire the old issuer: {c.identified} (once the new certificates are installed)",
            )
            for c in retire
        ]
    else:
        steps.append(
            RenewalStep(
                3,
                "retire",
                "retire the old issuer: nothing to remove (still needed or not in any trust store)",
            )
        )
    return tuple(steps)


def _identified(change: Change, previews: set[str]) -> str:
    """``change.identified``, but for a certificate that --commit has yet to make: its
    expiry, and no fingerprint (the preview's key is thrown away)."""
    if change.fingerprint not in previews:
        return change.identified
    until = change.certificate.not_valid_after_utc
    return f"{change.text} [the new certificate --commit makes, expires {until:%Y-%m-%d}]"


def _trust_delta(before: Inventory, after: Inventory) -> tuple[list[Change], list[Change]]:
    """The trust-store additions the renewed identities need, and the removals of what
    only the old ones needed (the old issuer, where nothing else needs it)."""
    adds = [c for c in trust_changes(after) if c.action == "add"]
    needed_before = {a: {fingerprint(c) for c in cs} for a, cs in required_trust(before).items()}
    needed_after = {a: {fingerprint(c) for c in cs} for a, cs in required_trust(after).items()}
    retire = [
        c
        for c in trust_changes(after, prune=True)
        if c.action == "remove"
        and c.fingerprint in needed_before.get(c.appliance, set())
        and c.fingerprint not in needed_after.get(c.appliance, set())
    ]
    return adds, retire


def _kind_text(kind: str) -> str:
    return {
        PERFIGO_ROOT: "the Perfigo-style root",
        INTERNAL_ROOT: "the internal root CA",
        INTERNAL_CA: "the internal signing CA",
    }.get(kind, kind)


def _where(item: RenewalItem) -> str:
    if len(item.installed_on) == 2:
        a, b = item.installed_on
        return f"HA pair: {a} and {b} at once"
    return f"on {item.installed_on[0]}"


def _item_text(item: RenewalItem, dep: Deployment) -> str:
    head = f"renew {item.identity} ({_where(item)}): {item.source.value}, {item.reason}"
    if item.action == "csr":
        if item.key is KeyPolicy.KEEP:
            how = "a new CSR signed with the current key (key policy keep: no pending key)"
        else:
            how = "a new CSR on a new pending key"
        return (
            f"{head} -> {how}; send it to the CA; the current certificate stays current "
            "until `ccapki import` brings the new one"
        )
    key = "the same key" if item.key is KeyPolicy.KEEP else "a new key"
    note = f"; {item.note}" if item.note else ""
    what = (
        "a new self-signed certificate"
        if item.signer == "self"
        else f"a new certificate from {item.issuer}"
    )
    return f"{head} -> {what}, valid {item.validity_days} days, on {key}{note}"


# ---------------------------------------------------------------------------- committing


def commit_renewal(
    store: Store,
    deployment: Deployment,
    plan: RenewalPlan,
    *,
    now: dt.datetime,
    deliver: Callable[[CsrMade], None] | None = None,
) -> RenewalResult:
    """Carry out ``plan`` (from :func:`plan_renewal` on the same store and deployment).

    Direct identities are reissued (the key policy of each item: a new key, or the
    current one signed again), signed by the plan's new issuers where it makes them; the
    trust stores get what the renewed identities need (removals are left for once the
    appliances serve them: ``RenewalResult.retire``); third-party identities get a CSR
    (``deliver`` runs for each before the store commits: write the file there; if it
    raises, nothing is kept). One audit entry ``renew`` per identity.

    Issued outside the write lock, then written in one transaction under it, after
    checking that no identity and no CA changed since the plan was made: an identity
    another ccapki changed, or renewed after the plan's run began (``plan.started``: two
    administrators renewing it at once), is left as that run made it (``elsewhere``,
    ``renewed_elsewhere``: it is renewed once, not twice). Raises :class:`StoreError` when
    a CA changed meanwhile, what unlocking the store raises (a wrong passphrase), and
    :class:`Interrupted` (its hint: nothing was kept); nothing is written then.
    """
    if plan.deployment != deployment.name:
        raise InputError(
            f"the renewal plan is for deployment {plan.deployment!r}, not {deployment.name!r}",
            "make the plan for the deployment you commit (plan_renewal)",
        )
    if not plan.items:
        return RenewalResult()
    try:
        with store.scoped(deployment.name):
            return _commit(store, deployment, plan, now, deliver)
    except (Interrupted, StoreBusy) as exc:
        finish = exc.hint if isinstance(exc, StoreBusy) else "run the command again"
        exc.hint = f"nothing was renewed (a renewal is written in one transaction); {finish}"
        raise


def _mint_successors(
    store: Store, plan: RenewalPlan, dep: Deployment, now: dt.datetime
) -> tuple[dict[str, Issuer], list[tuple[str, str, x509.Certificate, Issuer]]]:
    """The issuers the direct renewals use (their keys unsealed), new ones minted."""
    from ccapki.lifecycle.apply import INTERMEDIATE_DAYS, ROOT_DAYS

    signers = {i.signer for i in plan.items if i.action == "reissue"} - {"self"}
    kinds = set()
    if PERFIGO_ROOT in signers:
        kinds.add(PERFIGO_ROOT)
    if INTERNAL_CA in signers:
        kinds |= {INTERNAL_ROOT, INTERNAL_CA}
    issuers: dict[str, Issuer] = {}
    for kind in kinds:
        found = store.cas.issuer(kind)
        if found is None:  # planned with it: another ccapki removed it (restored a backup)
            raise StoreError(
                f"the store no longer holds the {kind} CA the renewal plan uses",
                "run `ccapki renew` again",
            )
        issuers[kind] = found
    minted: list[tuple[str, str, x509.Certificate, Issuer]] = []
    by_kind = {n.kind: n for n in plan.new_issuers}
    for kind in (PERFIGO_ROOT, INTERNAL_ROOT, INTERNAL_CA):
        n = by_kind.get(kind)
        if n is None:
            continue
        old = issuers[kind].certificate
        org = _organization(old)
        key = _successor_key(store, issuers[kind].key, n.name, _CA_KEYS[kind])
        if kind == INTERNAL_CA:
            cert = make_intermediate_ca(
                issuers[INTERNAL_ROOT],
                n.name,
                key.public_key(),
                now=now,
                days=INTERMEDIATE_DAYS,
                organization=org,
            )
        else:
            cert = make_root_ca(
                n.name,
                key,
                now=now,
                days=ROOT_DAYS,
                organization=org,
                path_length=0 if kind == PERFIGO_ROOT else 1,
            )
        issuers[kind] = Issuer(cert, key)
        minted.append((n.name, kind, cert, issuers[kind]))
    return issuers, minted


def _successor_key(store: Store, old: SignerKey, name: str, key_type: KeyType) -> SignerKey:
    """The key of a CA's successor: where the old CA's key is. A key in a PKCS#11 token
    gets a successor in the same token (object label ``name``, a new id; generated there,
    sensitive and not extractable); any other a new key in memory (sealed with its CA).
    Raises :class:`~ccapki.errors.TokenError` when the token fails."""
    from ccapki.pki.signer import ExternalKey

    if not isinstance(old, ExternalKey):
        return generate_key(key_type)
    from dataclasses import replace

    from ccapki.hsm.token import TokenKey

    if not isinstance(old, TokenKey):  # pragma: no cover - the one external kind there is
        raise TypeError(f"cannot make a successor of a {type(old).__name__}")
    uri = replace(old.uri, object=name, id=None)
    return store.token_keys.create(uri, old.module, key_type)


def _organization(cert: x509.Certificate) -> str | None:
    from cryptography.x509.oid import NameOID

    found = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    value = found[0].value if found else None
    return value if isinstance(value, str) else None


def _commit(
    store: Store,
    dep: Deployment,
    plan: RenewalPlan,
    now: dt.datetime,
    deliver: Callable[[CsrMade], None] | None,
) -> RenewalResult:
    from ccapki.lifecycle.apply import fill_trust_stores, issue_many, issue_one
    from ccapki.lifecycle.certfiles import make_csrs
    from ccapki.pki.issue import build_csr

    store.unlock()  # a wrong passphrase fails here, before anything is issued
    planned = make_plan(dep)
    direct = [i for i in plan.items if i.action == "reissue"]
    issuers, minted = _mint_successors(store, plan, dep, now) if direct else ({}, [])
    # issued outside the write lock (apply's machinery; in bulk on every core)
    rotate = [(planned.get(i.identity), i.signer) for i in direct if i.key is KeyPolicy.ROTATE]
    records: list[IdentityRecord] = issue_many(rotate, issuers, now) if rotate else []
    for i in direct:
        if i.key is KeyPolicy.KEEP:
            key: CertificateIssuerPrivateKeyTypes = store.keys.private_key(i.spki)
            records.append(issue_one(planned.get(i.identity), i.signer, issuers, now, key=key))
    items = {i.identity: i for i in plan.items}
    csrs: list[CsrMade] = []
    with store.transaction():
        # decided under the write lock: what another run committed is seen here
        current = store.identities.current()
        changed = {
            n
            for n, i in items.items()
            if n not in current or current[n].fingerprint != i.fingerprint
        }
        others = _renewed_since(store, set(items), plan.started)
        fresh = {n for n in items if n not in changed and n not in others}
        elsewhere = tuple(n for n in items if n not in fresh)
        stopped = tuple(_stopped(items[n], current.get(n), others.get(n)) for n in elsewhere)
        now_seen = {ca.kind: ca.fingerprint for ca in store.cas.list()}  # the newest wins
        if {k: now_seen.get(k) for k in plan.ca_seen} != dict(plan.ca_seen):
            raise StoreError(
                "another ccapki changed the store's CAs since the renewal was planned "
                "(nothing was renewed)",
                "run `ccapki renew` again",
            )
        before = load_inventory(store, dep, current)
        for name, kind, cert, issuer in minted:
            store.cas.add(name, kind, cert, issuer.key)
        landed = [r for r in records if r.identity in fresh]
        store.identities.add(landed)
        trust_added = fill_trust_stores(store, dep)
        third = [i for i in plan.items if i.action == "csr" and i.identity in fresh]
        new_key = [i.identity for i in third if i.key is KeyPolicy.ROTATE]
        if new_key:
            for made in make_csrs(store, dep, new_key):
                csrs.append(CsrMade(made.identity, made.csr, made.spki, True))
        for i in third:
            if i.key is KeyPolicy.KEEP:
                key = store.keys.private_key(i.spki)
                csr = build_csr(planned.get(i.identity).request, key)
                store.csrs.add(i.identity, csr, i.spki)
                csrs.append(CsrMade(i.identity, csr, i.spki, False))
        csrs.sort(key=lambda c: list(items).index(c.identity))
        after = store.identities.current()
        renewed: list[Renewed] = []
        # the machine's clock (a what-if clock stands still): a run that began before this
        # commit sees the renewal as made while it ran, and does not make another
        stamp = dt.datetime.now(dt.UTC).isoformat()
        for r in landed:
            i = items[r.identity]
            new = after[r.identity]
            renewed.append(
                Renewed(
                    r.identity,
                    new.version,
                    i.version,
                    new.fingerprint,
                    new.not_after,
                    new.spki == i.spki,
                    i.issuer,
                )
            )
            store.audit.record(
                "renew",
                r.identity,
                version=new.version,
                previous_version=i.version,
                fingerprint=new.fingerprint,
                previous_fingerprint=i.fingerprint,
                key="same" if new.spki == i.spki else "new",
                issuer=i.issuer,
                due=i.due,
                written_at=stamp,
            )
        for c in csrs:
            i = items[c.identity]
            store.audit.record(
                "renew-csr",
                c.identity,
                spki=c.spki,
                pending_key=c.pending,
                current_version=i.version,
                due=i.due,
                written_at=stamp,
            )
        _, retire = _trust_delta(before, load_inventory(store, dep, after))
        if deliver is not None:  # before the commit: a file that cannot be written keeps nothing
            for c in csrs:
                deliver(c)
    return RenewalResult(
        renewed=tuple(renewed),
        csrs=tuple(csrs),
        created_cas=tuple(n for n, *_ in minted),
        trust_added=tuple(trust_added),
        retire=tuple(str(c) for c in retire),
        elsewhere=elsewhere,
        renewed_elsewhere=stopped,
    )


_How = Literal["renewed", "csr"]


def _renewed_since(
    store: Store, names: set[str], started: dt.datetime
) -> dict[str, tuple[dt.datetime, _How]]:
    """The identities of ``names`` another run renewed (or made a renewal CSR of) after
    ``started``: when, and how. Read from the audit log newest first (writers are
    serialised: the rows are in the order they were committed) down to the first
    renewal written before ``started``."""
    out: dict[str, tuple[dt.datetime, _How]] = {}
    kinds: tuple[tuple[str, _How], ...] = (("renew", "renewed"), ("renew-csr", "csr"))
    for action, how in kinds:
        for entry in store.audit.newest_first(action):
            at = written_at(entry.detail)
            if at is None or at <= started:
                break
            if entry.subject in names and entry.subject not in out:
                out[entry.subject] = (at, how)
    return out


def _stopped(
    item: RenewalItem, now: StoredIdentity | None, other: tuple[dt.datetime, _How] | None
) -> RenewedElsewhere:
    """What :class:`RenewedElsewhere` says about ``item``, left to another run."""
    version = now.version if now is not None else None
    if other is not None:
        return RenewedElsewhere(item.identity, item.version, version, other[0], other[1])
    at = now.created_at if now is not None else None
    return RenewedElsewhere(item.identity, item.version, version, at, "changed")
