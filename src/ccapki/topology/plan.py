"""The certificate plan: how many certificates, for which names, from which source.

The FAQ's rule: one certificate per CAM and per CAS; an HA pair shares one. The plan is a
pure function of the deployment; :func:`pending_actions` compares it with what the store
holds at an explicit ``now``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccapki.pki.keytypes import KeyType
from ccapki.pki.request import IdentityRequest
from ccapki.topology.model import Channel, Deployment, IdentitySpec, Role, Source

if TYPE_CHECKING:  # planning a file needs no X.509 (``ccapki plan FILE`` starts faster)
    from cryptography import x509

__all__ = [
    "CA_KINDS",
    "CSR_STEP",
    "INTERNAL_CA",
    "INTERNAL_ROOT",
    "PERFIGO_ROOT",
    "Action",
    "ActionKind",
    "CurrentIdentity",
    "PendingCsr",
    "Plan",
    "PlannedIdentity",
    "csr_differences",
    "make_plan",
    "pending_actions",
    "signer_for",
    "stale_csr_words",
]

#: Validity ccapki asks for per source when the deployment gives none. 397 days keeps
#: internal and third-party certificates inside the 398-day public limit and Apple's 825.
DEFAULT_DAYS: Mapping[Source, int] = {
    Source.PERFIGO: 365,
    Source.INTERNAL: 397,
    Source.THIRD_PARTY: 397,
}


@dataclass(frozen=True)
class PlannedIdentity:
    """One certificate of the plan."""

    spec: IdentitySpec
    validity_days: int
    channels: tuple[Channel, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def installed_on(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.spec.members)

    @property
    def request(self) -> IdentityRequest:
        """What its certificate or CSR says: the names, O, and the identity's subject
        fields (C, ST, L, OU, emailAddress: ``[deployment.subject]``)."""
        subject = self.spec.subject
        return IdentityRequest(
            common_name=self.spec.common_name,
            dns_names=self.spec.dns_names,
            ip_addresses=self.spec.ip_addresses,
            organization=self.organization,
            organizational_unit=subject.organizational_unit,
            country=subject.country,
            state=subject.state,
            locality=subject.locality,
            email=subject.email,
        )

    organization: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.spec.role.value,
            "ha_pair": self.spec.ha,
            "installed_on": list(self.installed_on),
            "subject": self.request.subject.rfc4514_string(),
            "common_name": self.spec.common_name,
            "san_dns": list(self.spec.dns_names),
            "san_ip": [str(i) for i in self.spec.ip_addresses],
            "key_type": self.spec.key_type.value,
            "validity_days": self.validity_days,
            "source": self.spec.source.value,
            "channels": [c.value for c in self.channels],
        }


@dataclass(frozen=True)
class Plan:
    deployment: Deployment
    identities: tuple[PlannedIdentity, ...]

    @property
    def certificates_needed(self) -> int:
        return len(self.identities)

    @functools.cached_property
    def _by_name(self) -> dict[str, PlannedIdentity]:
        return {p.name: p for p in self.identities}

    def get(self, name: str) -> PlannedIdentity:
        """The planned identity named ``name`` (or of the appliance named ``name``)."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        return self._by_name[self.deployment.identity(name).name]

    def to_json(self) -> dict[str, object]:
        dep = self.deployment
        return {
            "deployment": dep.name,
            "release": str(dep.release),
            "certificates_needed": self.certificates_needed,
            "appliances": len(dep.appliances),
            "ha_pairs": sum(1 for i in dep.identities if i.ha),
            "identities": [p.to_json() for p in self.identities],
        }


def _channels(spec: IdentitySpec, dep: Deployment) -> tuple[Channel, ...]:
    out = [Channel.CAM_CAS]
    if spec.ha and dep.profile.ha_ipsec_heartbeat:
        out.append(Channel.HA_HEARTBEAT)
    if spec.role is Role.CAS:
        out += [Channel.AGENT, Channel.WEB_LOGIN]
    out.append(Channel.ADMIN_GUI)
    return tuple(out)


#: Kinds of CA the store keeps.
PERFIGO_ROOT = "perfigo-root"
INTERNAL_ROOT = "internal-root"
INTERNAL_CA = "internal-ca"
CA_KINDS = (PERFIGO_ROOT, INTERNAL_ROOT, INTERNAL_CA)


def signer_for(p: PlannedIdentity, dep: Deployment) -> str:
    """Which CA kind signs ``p`` ("self" for a true self-signed certificate)."""
    src = p.spec.source
    if src is Source.SELF_SIGNED:
        return PERFIGO_ROOT if dep.profile.temp_cert_signer == "perfigo" else "self"
    if src is Source.PERFIGO:
        return PERFIGO_ROOT
    if src is Source.INTERNAL:
        return INTERNAL_CA
    return "third-party"


def make_plan(dep: Deployment) -> Plan:
    """The plan for ``dep``: one identity per standalone appliance or HA pair."""
    items = []
    for spec in dep.identities:
        if spec.validity_days is not None:
            days = spec.validity_days
        elif spec.source is Source.SELF_SIGNED:
            days = dep.profile.temp_cert_days
        else:
            days = DEFAULT_DAYS[spec.source]
        items.append(
            PlannedIdentity(
                spec=spec,
                validity_days=days,
                channels=_channels(spec, dep),
                organization=dep.organization,
            )
        )
    return Plan(dep, tuple(items))


class ActionKind(enum.StrEnum):
    ISSUE = "issue"  # no certificate yet
    REISSUE = "reissue"  # the plan changed (names, key type, source)
    RENEW = "renew"  # expires soon
    CSR = "csr"  # third-party: make a CSR and send it to the CA
    AWAIT_CA = "await-ca"  # third-party: CSR made, waiting for the certificate
    NOTHING = "nothing"  # nothing to do


#: What the administrator does for a ``csr`` action (and what ``plan`` says of a new one).
CSR_STEP = "make a CSR (ccapki csr) and send it to the CA"


@dataclass(frozen=True)
class PendingCsr:
    """The newest CSR whose key is still pending: what it asks for, and when it was made."""

    csr: x509.CertificateSigningRequest
    made: dt.datetime


@dataclass(frozen=True)
class CurrentIdentity:
    """What the store holds for an identity (the facts the plan is compared with).

    ``csr``: the pending CSR itself, when the caller read it (then the plan tells a CSR
    made for an older version of the deployment file from one it can await); None: only
    ``pending_csr`` is known, and a pending CSR is taken as current."""

    certificate: x509.Certificate | None
    source: Source | None
    pending_csr: bool = False
    csr: PendingCsr | None = None


@dataclass(frozen=True)
class Action:
    identity: str
    kind: ActionKind
    reason: str


def _key_type_of(cert: x509.Certificate) -> KeyType | None:
    from ccapki.pki.keys import describe_public_key

    name, bits = describe_public_key(cert.public_key())
    table = {
        ("ECDSA P-256", 256): KeyType.ECDSA_P256,
        ("ECDSA P-384", 384): KeyType.ECDSA_P384,
        ("RSA", 2048): KeyType.RSA_2048,
        ("RSA", 3072): KeyType.RSA_3072,
        ("RSA", 4096): KeyType.RSA_4096,
    }
    return table.get((name, bits))


def csr_differences(spec: IdentitySpec, csr: x509.CertificateSigningRequest) -> list[str]:
    """How ``csr`` differs from what a CSR for ``spec`` asks for now: its common name, its
    DNS names and IP addresses, its key type (the subject's other fields do not count: a
    change of them waits for the next renewal, as for certificates). Returns the
    differences in words (empty: it asks for what the deployment file gives); raises
    nothing."""
    from cryptography import x509 as x

    from ccapki.pki.keys import key_type_name

    out: list[str] = []
    cns = csr.subject.get_attributes_for_oid(x.NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    if cn is None or cn.lower().rstrip(".") != spec.common_name.lower().rstrip("."):
        out.append(f"its CN is {cn or '(none)'}, the file's {spec.common_name}")
    try:
        san = csr.extensions.get_extension_for_class(x.SubjectAlternativeName).value
        dns = {n.lower().rstrip(".") for n in san.get_values_for_type(x.DNSName)}
        ips = set(san.get_values_for_type(x.IPAddress))
    except (x.ExtensionNotFound, ValueError):
        dns, ips = set(), set()
    wanted_dns = {n.lower().rstrip(".") for n in spec.dns_names}
    wanted = [n for n in spec.dns_names if n.lower().rstrip(".") not in dns]
    wanted += [str(i) for i in spec.ip_addresses if i not in ips]
    dropped = sorted(n for n in dns if n not in wanted_dns)
    dropped += [str(i) for i in sorted(ips, key=str) if i not in spec.ip_addresses]
    if wanted:
        out.append(f"it lacks {', '.join(wanted)}")
    if dropped:
        out.append(f"it names {', '.join(dropped)}, no longer in the file")
    try:
        has = key_type_name(csr.public_key())
    except (ValueError, TypeError):  # a key type cryptography does not load
        has = "of an unknown type"
    if has != spec.key_type.value:
        out.append(f"its key is {has}, the file's {spec.key_type}")
    return out


def stale_csr_words(made: dt.datetime, differences: list[str]) -> str:
    """What a pending CSR made at ``made`` that differs from the plan by ``differences``
    (:func:`csr_differences`) is, in words."""
    return (
        f"the pending CSR (made {made:%Y-%m-%d}) is stale, made for an older version of the "
        f"deployment file ({'; '.join(differences)})"
    )


def _signer_change(p: PlannedIdentity, dep: Deployment, cert: x509.Certificate) -> str | None:
    """For a ``self-signed`` identity: what changes when the release's temporary
    certificates are signed otherwise than ``cert`` is (CCA 4.7 made them true
    self-signed; before, the Perfigo root signed them). None when nothing does."""
    signer = signer_for(p, dep)
    own = cert.issuer == cert.subject  # self-issued: the cheap test is enough here
    if signer == "self" and not own:
        return (
            f"CCA {dep.release} makes true self-signed certificates: it becomes its own "
            "root, no longer signed by the Perfigo root, so the trust entries change on "
            "both sides (the CAM trusts each CAS's own certificate and each CAS the CAM's, "
            "in place of the Perfigo root)"
        )
    if signer == PERFIGO_ROOT and own:
        said = (
            f"CCA {dep.release} signs temporary certificates with the Perfigo root: it is "
            "no longer its own root (true self-signed)"
        )
        if not dep.profile.mutual_verification:  # before 4.5 CAM and CAS trust anything
            return said
        return (
            f"{said}, so the trust entries change on both sides (the CAM and each CAS "
            "trust the Perfigo root, in place of each other's own certificates)"
        )
    return None


#: A certificate ccapki issues for N days lasts N days plus the few minutes it starts early
#: (:data:`ccapki.pki.issue.BACKDATE`); longer than this over N, it was issued for more.
_ISSUE_SLACK = dt.timedelta(hours=1)


def pending_actions(
    plan: Plan, current: Mapping[str, CurrentIdentity], now: dt.datetime
) -> tuple[Action, ...]:
    """What ``apply`` (or the admin, for third-party CAs) must do for each identity."""
    from ccapki.pki.certs import renewal_window, subject_alt_names

    out: list[Action] = []
    for p in plan.identities:
        cur = current.get(p.name)
        cert = cur.certificate if cur else None
        third = p.spec.source is Source.THIRD_PARTY
        # a pending CSR the caller read, made for an older version of the file (other
        # names, another key type): not one to await, but one to make again
        stale = ""
        if third and not p.spec.acme and cur is not None and cur.pending_csr and cur.csr:
            differs = csr_differences(p.spec, cur.csr.csr)
            if differs:
                stale = stale_csr_words(cur.csr.made, differs)
        if cert is None:
            if third:
                pending = cur is not None and cur.pending_csr and not stale
                kind = ActionKind.AWAIT_CA if pending else ActionKind.CSR
                reason = (
                    "CSR pending at the CA; import the certificate the CA returns"
                    if kind is ActionKind.AWAIT_CA
                    else CSR_STEP + (f": {stale}" if stale else "")
                )
                if p.spec.acme and kind is ActionKind.CSR:
                    reason = f"order it from the ACME CA: ccapki acme order {p.name}"
                out.append(Action(p.name, kind, reason))
            else:
                out.append(
                    Action(p.name, ActionKind.ISSUE, f"no certificate yet ({p.spec.source})")
                )
            continue
        # a plan's DNS names are hostnames, never IP addresses: no parsing to tell them apart
        sans = subject_alt_names(cert)
        missing = [n for n in p.spec.dns_names if sans is None or not sans.covers_dns(n)]
        if not p.spec.acme:  # DNS-01 cannot prove an IP: ACME orders name none (reported)
            missing += [str(i) for i in p.spec.ip_addresses if sans is None or i not in sans.ips]
        changed: list[str] = []
        if missing:
            changed.append(f"names not in the certificate: {', '.join(missing)}")
        if not third and sans is not None:
            # names it still vouches for that the file gives it no more (an HA pair made
            # standalone: the former peer's names; a hostname or IP moved away); a
            # third-party CA may add names of its own, so only certificates ccapki issues
            wanted = {n.lower().rstrip(".") for n in p.spec.dns_names}
            extra = [n for n in sans.dns if n.rstrip(".") not in wanted]
            extra += [str(i) for i in sans.ips if i not in p.spec.ip_addresses]
            if extra:
                changed.append(f"names the deployment file no longer gives it: {', '.join(extra)}")
        if _key_type_of(cert) is not p.spec.key_type:
            changed.append(f"key type is not {p.spec.key_type}")
        if cur is not None and cur.source is Source.THIRD_PARTY and not third:
            # an imported certificate for an identity the file gives ccapki: the file may
            # never have said third-party (a CSR made and imported anyway), so no "changed"
            made = str(p.spec.source)
            one = f"{'an' if made[:1] in 'aeiou' else 'a'} {made}"
            changed.append(
                f"the store holds a third-party certificate; the deployment file says {made}: "
                f"apply replaces it with {one} one"
            )
        elif cur is not None and cur.source is not None and cur.source is not p.spec.source:
            changed.append(f"source changed from {cur.source} to {p.spec.source}")
        if (
            p.spec.source is Source.SELF_SIGNED
            and (cur is None or cur.source in (None, Source.SELF_SIGNED))
            and (signed := _signer_change(p, plan.deployment, cert))
        ):
            changed.append(signed)
        if cert.not_valid_before_utc > now:
            # every channel refuses it until then (e.g. issued under a future what-if clock)
            changed.append(f"not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        span = cert.not_valid_after_utc - cert.not_valid_before_utc
        if not third and span > dt.timedelta(days=p.validity_days) + _ISSUE_SLACK:
            # the file asks for a shorter life (e.g. validity_days lowered for Apple's cap)
            changed.append(
                f"valid for {span.days} days, the deployment file asks for {p.validity_days}"
            )
        left = cert.not_valid_after_utc - now
        # `ccapki csr` was run (and, when its CSR was read, for the file as it is now)
        waiting = third and cur is not None and cur.pending_csr and not stale
        # a CSR read and found current answers every change; one only known to be there
        # answers a source change (any CSR is one for the CA): it may predate a change of
        # names or key type, so those still ask for a CSR
        answered = waiting and (
            (cur is not None and cur.csr is not None)
            or all(c.startswith("source changed") for c in changed)
        )
        after = f"; {stale}" if stale else ""
        if changed:
            if answered:
                reason = (
                    "CSR pending at the CA; import the certificate the CA returns "
                    f"({'; '.join(changed)})"
                )
                out.append(Action(p.name, ActionKind.AWAIT_CA, reason))
            else:
                kind = ActionKind.CSR if third else ActionKind.REISSUE
                out.append(Action(p.name, kind, "; ".join(changed) + after))
        elif left <= renewal_window(cert):  # a third of its life left, at most 30 days
            kind = ActionKind.CSR if third else ActionKind.RENEW
            when = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} days"
            if waiting:
                kind, when = (
                    ActionKind.AWAIT_CA,
                    f"CSR pending at the CA; import the certificate the CA returns ({when})",
                )
            out.append(Action(p.name, kind, when + after))
        else:
            out.append(
                Action(p.name, ActionKind.NOTHING, f"valid for {left.days} more days{after}")
            )
    return tuple(out)
