"""The certificate plan: how many certificates, for which names, from which source.

The FAQ's rule: one certificate per CAM and per CAS; an HA pair shares one. The plan is a
pure function of the deployment; :func:`pending_actions` compares it with what the store
holds at an explicit ``now``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccapki.pki.keytypes import KeyType
from ccapki.pki.request import IdentityRequest
from ccapki.topology.model import Channel, Deployment, IdentitySpec, Role, Source

if TYPE_CHECKING:  # planning a file needs no X.509 (``ccapki plan FILE`` starts faster)
    from cryptography import x509

    from ccapki.trust._policy import MaxValidity

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
    "csr_private_ips_warning",
    "key_setting",
    "key_type_change",
    "key_type_warnings",
    "make_plan",
    "names_dropped",
    "pending_actions",
    "private_ips_in_csr",
    "short_default_warning",
    "signer_for",
    "stale_csr_words",
    "unnamed_peers_warning",
    "validity_days_for",
    "validity_warning",
    "with_source",
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
    #: what the plan gives that will break something, said before anything is issued
    #: (:func:`validity_warning`: validities clients refuse)
    warnings: tuple[str, ...] = ()

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
            "warnings": list(self.warnings),
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


def validity_days_for(spec: IdentitySpec, dep: Deployment) -> int:
    """How many days ``spec``'s certificates are issued for: its ``validity_days``, else
    the release's temporary-certificate validity for a self-signed identity (90 days
    from 4.7.2), else :data:`DEFAULT_DAYS` of its source. Raises nothing."""
    if spec.validity_days is not None:
        return spec.validity_days
    if spec.source is Source.SELF_SIGNED:
        return dep.profile.temp_cert_days
    return DEFAULT_DAYS[spec.source]


def with_source(p: PlannedIdentity, dep: Deployment, source: Source) -> PlannedIdentity:
    """``p`` as the plan would have it if the deployment file gave it ``source`` (a
    rotation's what-if): the validity is that source's (:func:`validity_days_for`), not the
    one ``p`` has now. Raises nothing."""
    import dataclasses

    spec = dataclasses.replace(p.spec, source=source)
    return dataclasses.replace(p, spec=spec, validity_days=validity_days_for(spec, dep))


def make_plan(dep: Deployment) -> Plan:
    """The plan for ``dep``: one identity per standalone appliance or HA pair."""
    items = []
    for spec in dep.identities:
        items.append(
            PlannedIdentity(
                spec=spec,
                validity_days=validity_days_for(spec, dep),
                channels=_channels(spec, dep),
                organization=dep.organization,
            )
        )
    said = tuple(
        w
        for w in (
            validity_warning(dep, items),
            short_default_warning(dep, items),
            unnamed_peers_warning(dep),
        )
        if w
    )
    return Plan(dep, tuple(items), said)


#: more identities than this are counted, not all named, in a plan's warning
_MOST_NAMED = 3


#: a self-signed identity's default validity (the release's temporary certificate's) below
#: this many days is said up front: 4.7.2's three months
_SHORT_DEFAULT_DAYS = 365


def short_default_warning(dep: Deployment, planned: Sequence[PlannedIdentity]) -> str | None:
    """The warning for the self-signed identities whose validity the file leaves to the
    release's default when that default is short (CCA 4.7.2 to 4.7.x: the appliance's
    3-month temporary certificate, the FAQ's trap): ccapki's own certificates would expire
    as soon, though nothing holds them to it; None when there are none."""
    short = [
        p
        for p in planned
        if p.spec.source is Source.SELF_SIGNED
        and p.spec.validity_days is None
        and p.validity_days < _SHORT_DEFAULT_DAYS
    ]
    if not short:
        return None
    names = [p.name for p in short]
    if len(names) > _MOST_NAMED:
        names = [*names[:_MOST_NAMED], f"{len(names) - _MOST_NAMED} more"]
    who = f"{_and(names)} {'is' if len(short) == 1 else 'are'}"
    days = short[0].validity_days
    return (
        f"{who} planned valid for {days} days, the CCA {dep.release} default for a "
        "self-signed identity (the appliance's own temporary certificate lasts that long: "
        "the FAQ's \"for 3 months only\"); nothing holds ccapki's certificates to it, and "
        "each renewal must be installed on the appliance again (`ccapki status` and "
        "`ccapki watch` warn in time, `ccapki renew --due --commit` renews, e.g. from "
        "cron); fix, for a longer life: set validity_days (e.g. "
        "validity_days = 365) in [deployment] or in the identity's table, then `ccapki apply`"
    )


#: How a client platform's title names the Clean Access Agent on another platform.
_AGENT_ON = "Clean Access Agent on "


def _merged_agents(titles: Iterable[str]) -> list[str]:
    """``titles`` in their order, the Agent on a platform that is listed itself said with
    it ("macOS 10.15+ (its browsers and the Clean Access Agent)"), not as a second
    "macOS 10.15+" that reads like a repeat."""
    listed = list(titles)
    merged = {t.removeprefix(_AGENT_ON) for t in listed if t.startswith(_AGENT_ON)} & set(listed)
    out = []
    for t in listed:
        if t.startswith(_AGENT_ON) and t.removeprefix(_AGENT_ON) in merged:
            continue
        out.append(f"{t} (its browsers and the Clean Access Agent)" if t in merged else t)
    return out


def unnamed_peers_warning(dep: Deployment) -> str | None:
    """The warning for the HA pairs with ``san_ips = false`` whose peers have no hostname:
    the pair's certificate then names neither the peer nor its address, so the peer's own
    admin GUI (reached at its address) shows a name mismatch; None when there are none.
    (The pair itself, by its virtual hostname, is not affected.)"""
    peers = [
        (spec, m)
        for spec in dep.identities
        if spec.ha and not spec.san_ips
        for m in spec.members
        if not m.hostname
    ]
    if not peers:
        return None
    pairs = list(dict.fromkeys(spec.name for spec, _ in peers))
    named = [f"{m.name} ({m.ips[0]})" for _, m in peers[:_MOST_NAMED]]
    if len(peers) > _MOST_NAMED:
        named.append(f"{len(peers) - _MOST_NAMED} more")
    return (
        f"san_ips = false leaves the addresses out of the certificate of the HA "
        f"{'pair' if len(pairs) == 1 else 'pairs'} {', '.join(pairs[:_MOST_NAMED])}"
        f"{'' if len(pairs) <= _MOST_NAMED else f' and {len(pairs) - _MOST_NAMED} more'}, "
        f"and {'its peer' if len(peers) == 1 else 'the peers'} {', '.join(named)} "
        f"{'has' if len(peers) == 1 else 'have'} no hostname: a browser reaching a peer's "
        "own admin GUI at its address gets a name mismatch (the pair, by its virtual "
        "hostname, is not affected); fix: give each peer a hostname in the deployment file "
        '(primary = { name = ..., hostname = "...", ip = "..." }), or leave san_ips out'
    )


def validity_warning(dep: Deployment, planned: Sequence[PlannedIdentity]) -> str | None:
    """The warning for the identities of ``planned`` that ccapki issues (every source but
    third-party) for longer than a client accepts a TLS server certificate, even once its
    root is installed (CCA 4.8's five-year self-signed certificates and Apple's 825 days):
    who they are (counted at scale), which clients refuse them on which channels, and the
    ``validity_days`` that fixes it; None when there are none. Decided by the client
    policies ``trust check`` applies (:func:`ccapki.trust._policy.validity_refusals`), for
    certificates issued now: after every cap began."""
    from ccapki.pki.validitycaps import CAPS, longest_request

    # no client policy refuses a privately trusted certificate below the caps that apply
    # to one: a plan within them reads no policy (and imports no cryptography)
    floor = min(c.longest_request for c in CAPS if not c.public_only)
    over = [
        p for p in planned if p.spec.source is not Source.THIRD_PARTY and p.validity_days > floor
    ]
    if not over:
        return None
    from ccapki.trust._policy import CHANNEL_PLATFORMS, PLATFORMS, validity_refusals

    memo: dict[tuple[int, tuple[str, ...]], dict[str, MaxValidity]] = {}
    refused: list[PlannedIdentity] = []
    clients: dict[str, None] = {}  # ordered sets: platform titles, channels, rules
    channels: set[Channel] = set()
    rules: dict[MaxValidity, None] = {}
    for p in over:
        hit = False
        for channel in p.channels:
            platforms = CHANNEL_PLATFORMS.get(channel.value)
            if not platforms:
                continue
            key = (p.validity_days, platforms)
            found = memo.get(key)
            if found is None:
                found = memo[key] = validity_refusals(p.validity_days, platforms)
            if found:
                hit = True
                channels.add(channel)
                for platform, rule in found.items():
                    clients[PLATFORMS[platform].title] = None
                    rules[rule] = None
        if hit:
            refused.append(p)
    if not refused:
        return None
    names = [p.name for p in refused]
    if len(names) == 1:
        who = f"{names[0]} is"
    else:
        shown = ", ".join(names[:_MOST_NAMED])
        more = f" +{len(names) - _MOST_NAMED}" if len(names) > _MOST_NAMED else ""
        who = f"{len(names)} identities ({shown}{more}) are"
    days = sorted({p.validity_days for p in refused})
    span = f"{days[0]} days" if len(days) == 1 else f"{days[0]} to {days[-1]} days"
    defaults = []
    for p in refused:
        if p.spec.validity_days is not None:
            continue
        if p.spec.source is Source.SELF_SIGNED:
            said = (
                f"the CCA {dep.release} default for a self-signed identity: what the "
                "appliance makes"
            )
        else:
            said = f"the default for a {p.spec.source} identity"
        if said not in defaults:
            defaults.append(said)
    why = f" ({'; '.join(defaults)})" if defaults else ""
    cap = min(r.days for r in rules)
    longest = min(longest_request(r.days) for r in rules)
    sources = "; ".join(dict.fromkeys(r.source for r in rules))
    on = _and([c.value for c in Channel if c in channels])
    return (
        f"{who} planned valid for {span}{why}: {_and(_merged_agents(clients))} refuse TLS "
        "server "
        f"certificates valid over {cap} days ({sources}), even with the root installed, on "
        f"{on}, and `ccapki trust check` fails those cells (validity-too-long); fix: set "
        f"validity_days = {longest} or less in the deployment file (in the identity's "
        f"table, or in [deployment] for every identity; certificates start minutes early, "
        f"so {cap} is over), then `ccapki apply`"
    )


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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


def key_setting(spec: IdentitySpec, have: KeyType) -> str:
    """The deployment-file setting that keeps a certificate of ``spec`` with a key of type
    ``have`` (the loader takes ``key`` in an identity's table, an HA pair's, and in
    ``[deployment]``). Raises nothing."""
    return f'key = "{have}" in {spec.name}\'s table or in [deployment]'


def key_type_change(spec: IdentitySpec, cert: x509.Certificate) -> str | None:
    """Why ``cert`` does not fit ``spec`` by its key type, in the plan's words (``key type
    is not ecdsa-p256``; when the file sets no ``key``: that this is the default, and the
    setting that keeps ``cert``'s key type); None when it fits. Raises nothing."""
    have = _key_type_of(cert)
    if have is spec.key_type:
        return None
    said = f"key type is not {spec.key_type}"
    if not spec.key_type_default:
        return said
    if have is None:  # a key type ccapki does not issue: no setting keeps it
        return f"{said} (the default: the deployment file sets no key)"
    return f"{said} (the default: {key_setting(spec, have)} keeps its {have} key)"


def key_type_warnings(
    imported: Sequence[tuple[IdentitySpec, x509.Certificate]], most: int = 3
) -> list[tuple[str | None, str]]:
    """What ``ccapki import`` warns of the certificates of ``imported`` (each with the
    identity it was imported for) whose key type is not the one the deployment file gives
    (:func:`key_type_change`): the plan replaces each (``apply`` reissues one ccapki
    issues, a third-party one asks for a new CSR), and the setting that keeps it (saying
    when the file's key type is only the default). One (identity, line) per identity;
    past ``most`` of them, one (None, line) counting them. Empty when every one fits.
    Raises nothing."""
    odd = [(spec, cert) for spec, cert in imported if key_type_change(spec, cert)]
    if not odd:
        return []

    def wants(spec: IdentitySpec) -> str:
        default = " (the default: it sets no key)" if spec.key_type_default else ""
        return f"the deployment file's is {spec.key_type}{default}"

    def step(spec: IdentitySpec) -> str:
        if spec.acme:
            return "the next `ccapki apply` orders a new one from the ACME CA to replace it"
        if spec.source is Source.THIRD_PARTY:
            return f"`ccapki plan` asks for a new CSR ({spec.key_type}) to replace it"
        return "the next `ccapki apply` replaces it"

    if len(odd) <= most:
        out: list[tuple[str | None, str]] = []
        for spec, cert in odd:
            have = _key_type_of(cert)
            keep = f"; {key_setting(spec, have)} keeps it" if have is not None else ""
            out.append(
                (
                    spec.name,
                    f"{spec.name}: its certificate's key type is {_describe_key(cert)}, "
                    f"{wants(spec)}: {step(spec)}{keep}",
                )
            )
        return out
    names = [spec.name for spec, _ in odd]
    shown = ", ".join(names[:most]) + f" +{len(names) - most}"
    kinds = {_key_type_of(cert) for _, cert in odd}
    wanted = {spec.key_type for spec, _ in odd}
    file_says = (
        f"the deployment file's is {next(iter(wanted))}"
        + (" (the default: it sets no key)" if all(s.key_type_default for s, _ in odd) else "")
        if len(wanted) == 1
        else "the deployment file gives them another"
    )
    have = next(iter(kinds)) if len(kinds) == 1 else None
    keep = (
        f'; key = "{have}" in [deployment] (or in each identity\'s table) keeps them'
        if have is not None
        else "; `ccapki plan` names each, with the setting that keeps it"
    )
    return [
        (
            None,
            f"{len(odd)} imported certificates ({shown}) have another key type than the "
            f"plan's, {file_says}: the next `ccapki apply` replaces them (a third-party one: "
            f"`ccapki plan` asks for a new CSR){keep}",
        )
    ]


def _describe_key(cert: x509.Certificate) -> str:
    """``cert``'s key type in :class:`KeyType` spelling (``rsa-2048``), also for one
    ccapki does not issue (``rsa-1024``). Raises nothing."""
    from ccapki.pki.keys import key_type_name

    return key_type_name(cert.public_key())


def names_dropped(
    spec: IdentitySpec, request: x509.CertificateSigningRequest | x509.Certificate
) -> list[str]:
    """The DNS names and IP addresses the subjectAltName of ``request`` (a CSR or a
    certificate) gives that ``spec`` no longer does, DNS names first, in order."""
    from cryptography import x509 as x

    try:
        san = request.extensions.get_extension_for_class(x.SubjectAlternativeName).value
        dns = {n.lower().rstrip(".") for n in san.get_values_for_type(x.DNSName)}
        ips = set(san.get_values_for_type(x.IPAddress))
    except (x.ExtensionNotFound, ValueError):
        return []
    wanted_dns = {n.lower().rstrip(".") for n in spec.dns_names}
    out = sorted(n for n in dns if n not in wanted_dns)
    return out + [str(i) for i in sorted(ips, key=str) if i not in spec.ip_addresses]


def csr_differences(
    spec: IdentitySpec, csr: x509.CertificateSigningRequest, *, dropped: bool = True
) -> list[str]:
    """How ``csr`` differs from what a CSR for ``spec`` asks for now: its common name, its
    DNS names and IP addresses, its key type (the subject's other fields do not count: a
    change of them waits for the next renewal, as for certificates). ``dropped``: whether
    names the CSR asks for that the file no longer gives count (an answer to it that
    names only what the file gives fits all the same). Returns the differences in words
    (empty: it asks for what the deployment file gives); raises nothing."""
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
    wanted = [n for n in spec.dns_names if n.lower().rstrip(".") not in dns]
    wanted += [str(i) for i in spec.ip_addresses if i not in ips]
    if wanted:
        out.append(f"it lacks {', '.join(wanted)}")
    extra = names_dropped(spec, csr) if dropped else []
    if extra:
        out.append(f"it names {', '.join(extra)}, no longer in the file")
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
        if key_change := key_type_change(p.spec, cert):
            changed.append(key_change)
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
            if p.spec.validity_days is not None:
                asks = f"the deployment file asks for {p.validity_days}"
            elif p.spec.source is Source.SELF_SIGNED:  # the release's temporary certificates
                asks = f"the release's default is {p.validity_days}"
            else:
                asks = f"the default for {p.spec.source} certificates is {p.validity_days}"
            changed.append(f"valid for {span.days} days, {asks}")
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


def private_ips_in_csr(spec: IdentitySpec) -> list[str]:
    """The private or reserved IP addresses (not globally routable) the CSR of ``spec``
    names: none unless it is a third-party identity (not ACME: its orders name no
    address). Raises nothing."""
    if spec.source is not Source.THIRD_PARTY or spec.acme:
        return []
    return [str(ip) for ip in spec.ip_addresses if not ip.is_global]


def csr_private_ips_warning(specs: Sequence[IdentitySpec]) -> str:
    """One line for the third-party identities of ``specs`` (not ACME: its orders name no
    address) whose CSR names a private or reserved IP address (not globally routable: RFC
    1918, loopback, link-local, CGNAT 100.64.0.0/10, ULA fc00::/7, documentation...): a
    public CA refuses them (the CA/Browser Forum Baseline Requirements forbid a reserved
    IP address in a certificate); an internal enterprise CA may not, so a warning. The
    first three identities and addresses are named, and how many in all. Empty when there
    is none."""
    found: dict[str, list[str]] = {}
    for spec in specs:
        ips = private_ips_in_csr(spec)
        if ips:
            found[spec.name] = ips
    if not found:
        return ""
    names = list(found)
    ips = [ip for v in found.values() for ip in v]
    shown = ", ".join(ips[:3]) + (f" +{len(ips) - 3}" if len(ips) > 3 else "")
    if len(names) == 1:
        who, where = f"the CSR of {names[0]}", f"on {names[0]}"
    else:
        listed = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        who, where = f"the CSRs of {len(names)} identities ({listed})", "on each"
    one = len(ips) == 1
    what = "a private or reserved IP address" if one else "private or reserved IP addresses"
    return (
        f"{who} {'names' if len(names) == 1 else 'name'} {what} ({shown}), which a public "
        f"CA refuses (CA/Browser Forum Baseline Requirements; an internal enterprise CA may "
        f"accept {'it' if one else 'them'}): set san_ips = false ({where}, or in "
        "[deployment]) to leave IP addresses out of the names, `ccapki apply` the file, then "
        "make the CSR again"
    )
