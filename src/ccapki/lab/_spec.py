"""The lab's input: plain frozen values, built by whoever wires the lab (CLI, tests, demo)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

from cryptography import x509

from ccapki.errors import InputError
from ccapki.lab.jsse import java_available
from ccapki.probe.tls import leaf_der, sha256_hex

__all__ = ["ApplianceSpec", "EndpointMaterial", "HaRole", "LabSpec", "Role"]

Role = Literal["cam", "cas"]
HaRole = Literal["primary", "secondary"]

#: The endpoints each appliance role runs (``heartbeat`` only for members of an HA pair).
ENDPOINT_KINDS: dict[str, tuple[str, ...]] = {
    "cam": ("control", "gui"),
    "cas": ("control", "agent", "web-login", "gui"),
}
HTTPS_KINDS = frozenset({"agent", "web-login", "gui"})


@dataclass(frozen=True)
class EndpointMaterial:
    """What one TLS endpoint presents and trusts.

    ``cert_chain_pem``: the certificate, then its chain (PEM). ``key_pem``: the unencrypted
    PKCS#8 (or PKCS#1/SEC1) private key, held in memory only and never shown in ``repr``.
    ``trust_pem``: the appliance's Trusted Certificate Authorities, as a PEM bundle; empty
    means it trusts nothing.
    """

    cert_chain_pem: bytes
    key_pem: bytes = field(repr=False)
    trust_pem: bytes = b""

    def __post_init__(self) -> None:
        if b"-----BEGIN CERTIFICATE-----" not in self.cert_chain_pem:
            raise InputError(
                "endpoint material holds no PEM certificate",
                "pass the identity certificate and its chain as PEM",
            )
        if b"PRIVATE KEY-----" not in self.key_pem or b"ENCRYPTED" in self.key_pem:
            raise InputError(
                "endpoint material needs an unencrypted PEM private key",
                "decrypt the key in memory before building the lab spec",
            )
        if self.trust_pem.strip() and b"-----BEGIN CERTIFICATE-----" not in self.trust_pem:
            raise InputError(
                "the trust store is not a PEM bundle of certificates",
                "pass the trusted CA certificates as concatenated PEM",
            )

    @cached_property
    def leaf_der(self) -> bytes:
        """DER of the leaf certificate (the chain's first)."""
        return leaf_der(self.cert_chain_pem)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate (DER), lowercase hex."""
        return sha256_hex(self.leaf_der)

    @property
    def subject(self) -> str:
        """The leaf's subject as an RFC 4514 string."""
        return x509.load_der_x509_certificate(self.leaf_der).subject.rfc4514_string()

    def to_json(self) -> dict[str, str]:
        """JSON-ready values, the private key included (base64): keep them private."""
        return {
            "cert_chain_pem": self.cert_chain_pem.decode("ascii"),
            "key_pem_b64": base64.b64encode(self.key_pem).decode("ascii"),
            "trust_pem": self.trust_pem.decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndpointMaterial:
        """The material :meth:`to_json` gave; raises ``KeyError`` or ``ValueError`` for
        another shape."""
        return cls(
            cert_chain_pem=str(data["cert_chain_pem"]).encode("ascii"),
            key_pem=base64.b64decode(str(data["key_pem_b64"])),
            trust_pem=str(data.get("trust_pem", "")).encode("ascii"),
        )


@dataclass(frozen=True)
class ApplianceSpec:
    """One emulated appliance.

    ``hostname`` is the name its peers connect to (SNI and the name they check; defaults to
    ``name``); ``gui_hostname`` the name the admin's browser connects to for its own admin
    GUI (an HA peer's own hostname, not the pair's virtual one; defaults to ``hostname``).
    ``pair`` names its HA pair and ``ha_role`` its place in it. ``identity`` is what
    it presents on control, agent, web-login and GUI endpoints and the trust store it verifies
    peers with. ``heartbeat`` is the pair identity used for the HA heartbeat (defaults to
    ``identity``); a secondary may hold different material from its primary, which is exactly
    what the break scenarios need.
    """

    name: str
    role: Role
    identity: EndpointMaterial
    hostname: str = ""
    pair: str | None = None
    ha_role: HaRole | None = None
    heartbeat: EndpointMaterial | None = None
    gui_hostname: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("an appliance needs a name", "give every appliance a name")
        if self.role not in ("cam", "cas"):
            raise InputError(
                f"appliance {self.name}: role {self.role!r} is not 'cam' or 'cas'",
                "set role to 'cam' or 'cas'",
            )
        if (self.pair is None) != (self.ha_role is None):
            raise InputError(
                f"appliance {self.name}: an HA member needs both pair and ha_role",
                "set pair and ha_role ('primary' or 'secondary') together, or neither",
            )
        if self.ha_role not in (None, "primary", "secondary"):
            raise InputError(
                f"appliance {self.name}: ha_role {self.ha_role!r} is unknown",
                "set ha_role to 'primary' or 'secondary'",
            )

    @property
    def peer_name(self) -> str:
        """The name its peers check its certificate against: the hostname, else the name."""
        return self.hostname or self.name

    @property
    def gui_name(self) -> str:
        """The name the admin's browser checks its admin GUI's certificate against: its
        ``gui_hostname``, else :attr:`peer_name`."""
        return self.gui_hostname or self.peer_name

    @property
    def heartbeat_material(self) -> EndpointMaterial:
        """What it presents on the HA heartbeat: its own, else its identity."""
        return self.heartbeat or self.identity

    @property
    def material_digest(self) -> str:
        """SHA-256 (hex) of the public material it serves: its certificate chains and trust
        stores (identity and heartbeat); no key. Two specs of the appliance with the same
        digest serve the same certificates and trust the same CAs."""
        parts = []
        for m in (self.identity, self.heartbeat_material):
            for blob in (m.cert_chain_pem, m.trust_pem):
                parts.append(len(blob).to_bytes(8, "big") + blob)
        return sha256_hex(b"".join(parts))

    @property
    def endpoint_kinds(self) -> tuple[str, ...]:
        """The endpoints it listens on: its role's, and ``heartbeat`` in an HA pair (on
        releases without the heartbeat, :meth:`LabSpec.endpoint_kinds` leaves it out)."""
        kinds = ENDPOINT_KINDS[self.role]
        return (*kinds, "heartbeat") if self.pair else kinds

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values, private keys included: keep them private."""
        return {
            "name": self.name,
            "role": self.role,
            "hostname": self.hostname,
            "pair": self.pair,
            "ha_role": self.ha_role,
            "identity": self.identity.to_json(),
            "heartbeat": self.heartbeat.to_json() if self.heartbeat else None,
            "gui_hostname": self.gui_hostname,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApplianceSpec:
        """The appliance :meth:`to_json` gave; raises ``KeyError``, ``ValueError`` or
        :class:`~ccapki.errors.InputError` for another shape."""
        hb = data.get("heartbeat")
        return cls(
            name=str(data["name"]),
            role=cast(Role, data["role"]),
            identity=EndpointMaterial.from_json(data["identity"]),
            hostname=str(data.get("hostname") or ""),
            pair=data.get("pair"),
            ha_role=cast("HaRole | None", data.get("ha_role")),
            heartbeat=EndpointMaterial.from_json(hb) if hb else None,
            gui_hostname=str(data.get("gui_hostname") or ""),
        )


@dataclass(frozen=True)
class LabSpec:
    """A whole emulated deployment.

    ``link_interval``: seconds between CAS -> CAM status exchanges and heartbeats.
    ``check_peer_names``: clients check the peer's certificate names against its hostname.
    ``strict_x509``: RFC 5280 strict verification (as ``cryptography.x509.verification``).
    ``jsse``: the CAM <-> CAS control endpoints and their status/control links run on the JVM
    (JSSE, PKIX), as on the appliances; on by default when ``java`` and ``javac`` exist.
    The release profile (:mod:`ccapki.topology.releases`) decides the rest:
    ``mutual_verification`` (4.5+): CAM and CAS verify each other on control links; without
    it the links still run TLS, but the client neither verifies the server nor presents a
    certificate, and the server asks for none. ``heartbeat`` (4.7+): HA pairs run the
    certificate-keyed heartbeat. ``dn_authorization`` (4.9): the subject DNs (RFC 4514) the
    CAM allows on status links; None: no DN authorization. ``ike_heartbeat``: the heartbeat
    links are real IKEv2 negotiations between strongSwan charon daemons (kept running, one
    pair per HA pair, :class:`ccapki.lab.ipsec.KeptPairs`) whenever strongSwan can run here
    (root, charon installed); the TLS emulation of the heartbeat otherwise, or when False.
    """

    appliances: tuple[ApplianceSpec, ...]
    host: str = "127.0.0.1"
    link_interval: float = 5.0
    link_timeout: float = 5.0
    check_peer_names: bool = True
    strict_x509: bool = True
    jsse: bool = field(default_factory=java_available)
    mutual_verification: bool = True
    heartbeat: bool = True
    dn_authorization: tuple[str, ...] | None = None
    ike_heartbeat: bool = True

    def __post_init__(self) -> None:
        names = [a.name for a in self.appliances]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(
                f"duplicate appliance names in the lab: {', '.join(dupes)}",
                "give every appliance a unique name",
            )
        pairs: dict[str, list[ApplianceSpec]] = {}
        for a in self.appliances:
            if a.pair:
                pairs.setdefault(a.pair, []).append(a)
        for pair, members in pairs.items():
            roles = sorted(str(m.ha_role) for m in members)
            if roles != ["primary", "secondary"] or len({m.role for m in members}) != 1:
                raise InputError(
                    f"HA pair {pair} must have one primary and one secondary of the same role",
                    f"fix pair/ha_role of: {', '.join(m.name for m in members)}",
                )
        cams = [a for a in self.appliances if a.role == "cam"]
        if len({a.pair or a.name for a in cams}) > 1:
            raise InputError(
                "a lab has one CAM (standalone or one HA pair)",
                "remove the extra CAM appliances",
            )
        if self.link_interval <= 0 or self.link_timeout <= 0:
            raise InputError(
                "link_interval and link_timeout must be positive", "use values such as 5.0"
            )

    @property
    def active_cam(self) -> ApplianceSpec | None:
        """The CAM the CAS talk to: the standalone CAM or the primary of the CAM pair."""
        cams = [a for a in self.appliances if a.role == "cam"]
        for a in cams:
            if a.ha_role in (None, "primary"):
                return a
        return None

    def endpoint_kinds(self, a: ApplianceSpec) -> tuple[str, ...]:
        """The endpoints ``a`` runs in this lab: the heartbeat only where the release has it."""
        kinds = a.endpoint_kinds
        return kinds if self.heartbeat else tuple(k for k in kinds if k != "heartbeat")

    def appliance(self, name: str) -> ApplianceSpec:
        """The appliance named ``name``; raises ``KeyError`` if there is none."""
        for a in self.appliances:
            if a.name == name:
                return a
        raise KeyError(name)

    def material_digests(self) -> dict[str, str]:
        """Appliance name -> :attr:`ApplianceSpec.material_digest` (what ``verify --live``
        holds against what the running lab serves). On 4.9 (``dn_authorization`` set) a
        CAM's digest covers the CAS DNs it authorizes too: a CAS certificate with a new DN
        changes what the CAM serves (it drops the CAS until it authorizes the new DN)."""
        out = {a.name: a.material_digest for a in self.appliances}
        if self.dn_authorization is not None:
            dns = "\n".join(sorted(self.dn_authorization)).encode()
            for a in self.appliances:
                if a.role == "cam":
                    mine = bytes.fromhex(out[a.name])
                    out[a.name] = sha256_hex(mine + len(dns).to_bytes(8, "big") + dns)
        return out

    def pairs(self) -> dict[str, tuple[ApplianceSpec, ApplianceSpec]]:
        """HA pairs by name: (primary, secondary)."""
        out: dict[str, dict[str, ApplianceSpec]] = {}
        for a in self.appliances:
            if a.pair and a.ha_role:
                out.setdefault(a.pair, {})[a.ha_role] = a
        return {p: (m["primary"], m["secondary"]) for p, m in out.items()}

    def to_json(self) -> str:
        """JSON including the private keys: write it only 0600 and delete it after use."""
        return json.dumps(
            {
                "appliances": [a.to_json() for a in self.appliances],
                "host": self.host,
                "link_interval": self.link_interval,
                "link_timeout": self.link_timeout,
                "check_peer_names": self.check_peer_names,
                "strict_x509": self.strict_x509,
                "jsse": self.jsse,
                "mutual_verification": self.mutual_verification,
                "heartbeat": self.heartbeat,
                "dn_authorization": (
                    None if self.dn_authorization is None else list(self.dn_authorization)
                ),
                "ike_heartbeat": self.ike_heartbeat,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LabSpec:
        """The spec :meth:`to_json` wrote; raises :class:`~ccapki.errors.InputError` when
        ``text`` is not one."""
        try:
            data = json.loads(text)
            return cls(
                appliances=tuple(ApplianceSpec.from_json(a) for a in data["appliances"]),
                host=str(data.get("host", "127.0.0.1")),
                link_interval=float(data.get("link_interval", 5.0)),
                link_timeout=float(data.get("link_timeout", 5.0)),
                check_peer_names=bool(data.get("check_peer_names", True)),
                strict_x509=bool(data.get("strict_x509", True)),
                jsse=bool(data.get("jsse", java_available())),
                mutual_verification=bool(data.get("mutual_verification", True)),
                heartbeat=bool(data.get("heartbeat", True)),
                dn_authorization=(
                    None
                    if data.get("dn_authorization") is None
                    else tuple(str(x) for x in data["dn_authorization"])
                ),
                ike_heartbeat=bool(data.get("ike_heartbeat", True)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"the lab spec file is not valid: {exc}",
                "write it with LabSpec.to_json()",
            ) from None
