"""The deployment as frozen values: appliances, identities (standalone or HA pair), sources."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from ccapki._util import cached
from ccapki.pki.keytypes import KeyType
from ccapki.topology.releases import Release, ReleaseProfile, profile_for
from ccapki.topology.sources import Source

__all__ = [
    "AcmeDnsMethod",
    "AcmeSettings",
    "Appliance",
    "CaKeys",
    "Channel",
    "Deployment",
    "IPAddress",
    "IdentitySpec",
    "KeyPolicy",
    "Monitoring",
    "Notify",
    "Role",
    "Source",
    "SubjectFields",
    "is_localhost",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_localhost(host: str) -> bool:
    """Whether hostname ``host`` (lowercase, no trailing dot) is ``localhost`` or a name
    under it: the machine itself (RFC 6761), never an appliance's name."""
    return host == "localhost" or host.endswith(".localhost")


class Role(enum.StrEnum):
    CAM = "cam"
    CAS = "cas"


class Channel(enum.StrEnum):
    """The traffic certificates protect (DESIGN.md, "Channels")."""

    CAM_CAS = "cam-cas"  # CAM <-> CAS control, mutual TLS (4.5+)
    HA_HEARTBEAT = "ha-heartbeat"  # IPsec heartbeat between HA peers (4.7+)
    AGENT = "agent"  # endpoint agent -> CAS
    WEB_LOGIN = "web-login"  # browser -> CAS web-login redirect page
    ADMIN_GUI = "admin-gui"  # admin browser -> management GUI


#: Endpoint names an appliance may map to a real ``host:port`` for live probing.
ENDPOINT_NAMES = ("control", "heartbeat", "agent", "web-login", "gui")


@dataclass(frozen=True)
class Appliance:
    """One physical or virtual appliance.

    ``hostname`` is its DNS name; None for an appliance known by its IP address alone (CCA's
    own certificate form takes an IP as the CN, and its temporary certificate often is
    CN=<its IP>): it then has at least one address, and :attr:`host` is the first."""

    name: str
    role: Role
    hostname: str | None
    ips: tuple[IPAddress, ...]
    endpoints: tuple[tuple[str, str], ...] = ()  # (endpoint name, "host:port") for real probes

    def __post_init__(self) -> None:
        if self.hostname is None and not self.ips:
            raise ValueError(f"appliance {self.name!r} has neither a hostname nor an IP address")

    @property
    def host(self) -> str:
        """The name clients reach it by: its hostname, else its first IP address (what
        every report says where it would say the hostname)."""
        return self.hostname if self.hostname is not None else str(self.ips[0])

    def endpoint(self, name: str) -> str | None:
        return dict(self.endpoints).get(name)


@dataclass(frozen=True)
class SubjectFields:
    """The subject attributes a third-party CA's form asks for besides O and CN (the
    deployment file's ``[deployment.subject]``, or an identity's ``subject``): Country (C,
    an ISO 3166-1 code), State or Province (ST), Locality (L), Organizational Unit (OU)
    and an e-mail address (emailAddress). ``None``: not in the subject."""

    country: str | None = None
    state: str | None = None
    locality: str | None = None
    organizational_unit: str | None = None
    email: str | None = None

    def over(self, base: SubjectFields) -> SubjectFields:
        """These fields, each one not given taken from ``base`` (an identity's own
        ``subject`` over the deployment's). Raises nothing."""
        return SubjectFields(
            country=self.country if self.country is not None else base.country,
            state=self.state if self.state is not None else base.state,
            locality=self.locality if self.locality is not None else base.locality,
            organizational_unit=self.organizational_unit
            if self.organizational_unit is not None
            else base.organizational_unit,
            email=self.email if self.email is not None else base.email,
        )


@dataclass(frozen=True)
class IdentitySpec:
    """One certificate's worth of deployment: a standalone appliance or an HA pair."""

    name: str
    role: Role
    members: tuple[Appliance, ...]  # primary first
    source: Source
    key_type: KeyType
    service_ip: IPAddress | None = None
    virtual_hostname: str | None = None
    validity_days: int | None = None  # override; else from source and release
    #: ``source = "acme"``: a third-party identity whose CA is reached by ACME (the
    #: deployment's ``[acme]``); ``source`` is then THIRD_PARTY for every other rule
    acme: bool = False
    #: C, ST, L, OU and emailAddress of its subject: the deployment's ``[deployment.subject]``
    #: with the identity's own ``subject`` over it (empty: O and CN only)
    subject: SubjectFields = field(default_factory=SubjectFields)
    #: True when the deployment file sets no ``key`` for it (neither its table nor
    #: ``[deployment]``): ``key_type`` is the default, not asked for (what a reason for
    #: replacing a certificate of another key type says)
    key_type_default: bool = field(default=False, compare=False)
    #: False (``san_ips = false`` in the deployment file): its certificate names no IP
    #: address, only DNS names (public CAs refuse private and reserved addresses);
    #: :attr:`ip_addresses` is then empty, so the plan, the CSR and what ``import`` and
    #: ``status`` require leave them out. Its common name is then a DNS name (the loader
    #: refuses the setting for an identity known by its address alone)
    san_ips: bool = True

    def __post_init__(self) -> None:
        if len(self.members) not in (1, 2):
            raise ValueError("an identity is one appliance or an HA pair of two")

    @property
    def ha(self) -> bool:
        return len(self.members) == 2

    @property
    def primary(self) -> Appliance:
        return self.members[0]

    @property
    def secondary(self) -> Appliance | None:
        return self.members[1] if self.ha else None

    @property
    def common_name(self) -> str:
        """The certificate's CN: the virtual hostname of an HA pair, else its Service IP
        (a pair known by its addresses alone); a standalone appliance's hostname, else its
        first IP address. An address CN is always in :attr:`ip_addresses` too (the SAN:
        browsers match an IP against the SAN's iPAddress entries alone; the loader refuses
        ``san_ips = false`` for such an identity)."""
        if self.virtual_hostname:
            return self.virtual_hostname
        if self.ha and self.service_ip is not None:
            return str(self.service_ip)
        return self.primary.host

    # (cached: a frozen spec's names never change, and a bulk apply reads them in the
    # plan, the request, the stored facts)
    @cached
    def dns_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for n in (self.virtual_hostname, *(m.hostname for m in self.members)):
            if n and n not in names:
                names.append(n)
        return tuple(names)

    @cached
    def ip_addresses(self) -> tuple[IPAddress, ...]:
        """The IP addresses its certificate names (subjectAltName iPAddress entries): the
        Service IP and every member's addresses; none with :attr:`san_ips` false."""
        if not self.san_ips:
            return ()
        ips: list[IPAddress] = []
        for ip in (self.service_ip, *(ip for m in self.members for ip in m.ips)):
            if ip is not None and ip not in ips:
                ips.append(ip)
        return tuple(ips)


class KeyPolicy(enum.StrEnum):
    """What a renewal does with the identity's key (``[renewal] key``)."""

    ROTATE = "rotate"  # a new key for every renewal (the default)
    KEEP = "keep"  # the same key, a new certificate


#: The default staged warnings, in days before expiry (``[monitoring] warn_days``).
DEFAULT_WARN_DAYS = (60, 30, 7)


@dataclass(frozen=True)
class Notify:
    """Where ``ccapki watch`` sends its notifications (``[notify]``); secrets are never in
    the file: the file names the environment variables that hold them.

    ``webhook``: an http(s) URL receiving a JSON POST, signed with HMAC-SHA256 over the body
    by the secret in the environment variable ``webhook_secret_env`` (when given).
    ``email_to``: recipients; ``smtp``: ``host:port`` of the relay (STARTTLS unless
    ``smtp_starttls`` is false), ``email_from`` the sender, ``smtp_user`` and the password in
    the environment variable ``smtp_password_env`` to log in (when given)."""

    webhook: str | None = None
    webhook_secret_env: str | None = None
    email_to: tuple[str, ...] = ()
    email_from: str | None = None
    smtp: str | None = None
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password_env: str | None = None

    @property
    def any(self) -> bool:
        """Whether any notification is configured."""
        return bool(self.webhook or self.email_to)


@dataclass(frozen=True)
class Monitoring:
    """How the deployment is watched and renewed (``[monitoring]``, ``[renewal]`` and
    ``[notify]`` of the deployment file).

    ``warn_days``: the staged warnings, days before expiry, largest first (expired is always
    a stage). ``key_policy``: what renewing does with the key. ``probe_interval``: seconds
    between two runs of ``ccapki watch``; ``probe_timeout`` seconds per endpoint."""

    warn_days: tuple[int, ...] = DEFAULT_WARN_DAYS
    key_policy: KeyPolicy = KeyPolicy.ROTATE
    probe_interval: int = 3600
    probe_timeout: float = 5.0
    notify: Notify = field(default_factory=Notify)


class AcmeDnsMethod(enum.StrEnum):
    """How an ACME DNS-01 challenge's TXT record is published (``[acme] dns``)."""

    RFC2136 = "rfc2136"  # a dynamic update signed with TSIG (dnspython)
    HOOK = "hook"  # a command the administrator provides (docs/acme.md: its contract)


@dataclass(frozen=True)
class AcmeSettings:
    """The deployment file's ``[acme]``: the CA's directory, the account, DNS-01.

    Secrets are never in the file: ``eab_hmac_env`` and ``tsig_secret_env`` name the
    environment variables that hold them. ``ca_bundle``: a PEM file of the roots that sign
    the directory's HTTPS certificate (default: the system's). ``hook``: the command and its
    first arguments, run with ``add``/``remove``, the record name and value appended.
    ``propagation_wait``: seconds to wait after publishing before the CA is asked to look;
    ``propagation_timeout``: seconds to wait at most for the record (the hook, the DNS
    server) and for the CA's validation."""

    directory: str
    email: str
    dns: AcmeDnsMethod
    eab_kid: str | None = None
    eab_hmac_env: str | None = None
    ca_bundle: str | None = None
    dns_server: str | None = None
    dns_port: int = 53
    zone: str | None = None
    tsig_key_name: str | None = None
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret_env: str | None = None
    hook: tuple[str, ...] = ()
    propagation_wait: float = 0.0
    propagation_timeout: float = 120.0


@dataclass(frozen=True)
class CaKeys:
    """Where the internal CA keys are made (``[ca]`` of the deployment file): PKCS#11 URIs
    (RFC 7512; None: the key is made and sealed in the store) and the PKCS#11 module
    (None: ``CCAPKI_PKCS11_MODULE``). Read when a CA is created; a CA made before keeps
    its key where it is."""

    root_pkcs11_uri: str | None = None
    intermediate_pkcs11_uri: str | None = None
    pkcs11_module: str | None = None


@dataclass(frozen=True)
class Deployment:
    """A whole CCA deployment: one CAM identity and any number of CAS identities."""

    name: str
    release: Release
    cam: IdentitySpec
    cas: tuple[IdentitySpec, ...]
    organization: str | None = None
    source_text: str = field(default="", compare=False, repr=False)
    #: ``[deployment] ca = "shared"``: its identities are signed by the CAs it shares with
    #: the store's other such deployments, not by CAs of its own (``"own"``, the default)
    shared_ca: bool = False
    #: ``[monitoring]``, ``[renewal]`` and ``[notify]``: staged warnings, key policy, where
    #: notifications go (defaults when the file has none of them)
    monitoring: Monitoring = field(default_factory=Monitoring, compare=False)
    #: ``[acme]``: how identities with ``source = "acme"`` are enrolled (None: no section)
    acme: AcmeSettings | None = field(default=None, compare=False)
    #: ``[ca]``: the internal root and intermediate keys in a PKCS#11 token (issue 14)
    ca_keys: CaKeys = field(default_factory=CaKeys, compare=False)
    #: ``[deployment.subject]``: C, ST, L, OU, emailAddress for every identity's subject
    #: (each identity's effective fields are its ``IdentitySpec.subject``)
    subject: SubjectFields = field(default_factory=SubjectFields)

    @cached  # (read per identity by the plan: 10,000 walks of the release table)
    def profile(self) -> ReleaseProfile:
        return profile_for(self.release)

    # (cached: a frozen deployment's identities never change, and a large one's tuple is
    # long to make again at each reading)
    @cached
    def identities(self) -> tuple[IdentitySpec, ...]:
        return (self.cam, *self.cas)

    @cached
    def appliances(self) -> tuple[Appliance, ...]:
        return tuple(m for ident in self.identities for m in ident.members)

    @cached
    def _index(self) -> dict[str, IdentitySpec]:
        """Identity names, then appliance names, to their identity (first one wins)."""
        index: dict[str, IdentitySpec] = {}
        for ident in self.identities:
            index.setdefault(ident.name, ident)
        for ident in self.identities:
            for m in ident.members:
                index.setdefault(m.name, ident)
        return index

    def identity(self, name: str) -> IdentitySpec:
        found = self._index.get(name)
        if found is not None:
            return found
        from ccapki.errors import NotFoundError

        known = ", ".join(i.name for i in self.identities)
        raise NotFoundError(
            f"no identity or appliance named {name!r} in deployment {self.name!r}",
            f"use one of: {known}",
        )

    def identity_of(self, appliance: str) -> IdentitySpec:
        for ident in self.identities:
            if any(m.name == appliance for m in ident.members):
                return ident
        return self.identity(appliance)
