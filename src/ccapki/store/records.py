"""What the store hands back: frozen values, never rows or dicts.

The StrEnums' values are the strings the database holds (no migration: a value read back
is the member whose value it is).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from ccapki.topology.sources import Source

if TYPE_CHECKING:  # the X.509 library is loaded where a certificate is read or written:
    # `status` reads the store's columns only, and starts faster without it
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "DEFAULT_DEPLOYMENT",
    "SCHEMA_HEAD",
    "SHARED_CAS",
    "AuditEntry",
    "CertFacts",
    "CertSource",
    "CsrRecord",
    "DeploymentRecord",
    "DeploymentSummary",
    "IdentityRecord",
    "JobRecord",
    "JobState",
    "KeyRecord",
    "KeyState",
    "NoticeRecord",
    "ProbeRecord",
    "ProbeVerdict",
    "Role",
    "RunRecord",
    "SessionRecord",
    "StoredCA",
    "StoredIdentity",
    "TokenRecord",
    "TrustEntry",
    "UserRecord",
    "certificate_facts",
    "stored_time",
]

#: The deployment of a store that has applied no deployment file (and of the rows of a
#: store made before deployments had names, when it had applied none).
DEFAULT_DEPLOYMENT = "default"
#: The ``deployment`` of the CAs (and their keys) that the deployments with
#: ``[deployment] ca = "shared"`` share; no deployment name can be it.
SHARED_CAS = "*"
#: The Alembic revision this code expects; a test checks it equals the migrations' head.
SCHEMA_HEAD = "0012_trust_pem_by_ca"

#: Texts :func:`stored_time` keeps parsed (~150 bytes each).
_SEEN_MAX = 16384
_seen: dict[object, dt.datetime] = {}


def _parse_time(value: object) -> dt.datetime:
    utc = dt.UTC
    if isinstance(value, dt.datetime):  # a driver that parses (psycopg; not sqlite3)
        return value.replace(tzinfo=utc) if value.tzinfo is None else value.astimezone(utc)
    text = str(value)
    try:
        when = dt.datetime.fromisoformat(text + "+00:00")  # the UTC text SQLite holds
        if when.tzinfo is utc:
            return when
    except ValueError:  # a text with its own zone
        pass
    when = dt.datetime.fromisoformat(text)  # a date alone reads "+00:00" as nothing
    return when.replace(tzinfo=utc) if when.tzinfo is None else when.astimezone(utc)


def stored_time(value: object) -> dt.datetime:
    """A datetime column's value as read from the database driver (SQLite's UTC text
    "2026-11-27 00:00:00.000000", or a driver's datetime), as an aware UTC datetime.

    The same few texts come back many times (a batch's issue and expiry times, a root held
    by every appliance): each is parsed once (a datetime is immutable). The text is read
    with its zone appended: ``replace(tzinfo=...)`` on the parsed value cost eight times the
    parse itself."""
    when = _seen.get(value)
    if when is None:
        when = _parse_time(value)
        if len(_seen) < _SEEN_MAX:
            _seen[value] = when
    return when


#: Where a stored certificate came from: the deployment's
#: :class:`~ccapki.topology.model.Source` (the same strings).
CertSource = Source


class KeyState(enum.StrEnum):
    """A sealed key's state."""

    PENDING = "pending"  # made for a CSR, no certificate yet
    ACTIVE = "active"  # the key of an identity's certificate
    RETIRED = "retired"  # given up (kept sealed, never matched to a new certificate)
    #: the key of an identity's previous version, replaced by a reissue or an imported new
    #: version (kept sealed, never deleted; still exportable from that version)
    SUPERSEDED = "superseded"
    CA = "ca"  # a CA's signing key


def pem_text(cert: x509.Certificate) -> str:
    """The certificate as PEM text (what the store's ``pem`` columns hold)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM).decode()


@dataclass(frozen=True, init=False)
class StoredIdentity:
    """One version of an identity's certificate as the store holds it."""

    name: str
    version: int
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # intermediates first, then the root (if any)
    source: CertSource
    spki: str
    fingerprint: str
    created_at: dt.datetime
    deployment: str = DEFAULT_DEPLOYMENT

    def __init__(
        self,
        name: str,
        version: int,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        source: CertSource,
        spki: str,
        fingerprint: str,
        created_at: dt.datetime,
        deployment: str = DEFAULT_DEPLOYMENT,
    ) -> None:
        # the fields set at once (a frozen dataclass's own __init__ sets each through
        # object.__setattr__: twice as long; an apply or a report holds 10,000s of them)
        self.__dict__.update(
            name=name,
            version=version,
            certificate=certificate,
            chain=chain,
            source=source,
            spki=spki,
            fingerprint=fingerprint,
            created_at=created_at,
            deployment=deployment,
        )

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class StoredCA:
    """A CA the store holds (its key, if ours, is in the keys table)."""

    name: str
    kind: str  # perfigo-root | internal-root | internal-ca | external
    certificate: x509.Certificate
    fingerprint: str
    spki: str
    deployment: str = DEFAULT_DEPLOYMENT


@dataclass(frozen=True)
class KeyRecord:
    """A sealed key's record (never the key material)."""

    fingerprint: str  # SHA-256 of the public key (SPKI)
    key_type: str
    identity: str | None
    state: KeyState
    created_at: dt.datetime
    deployment: str = DEFAULT_DEPLOYMENT


@dataclass(frozen=True)
class CsrRecord:
    """A CSR the store made (its key is the pending key ``spki``)."""

    identity: str
    spki: str
    pem: str
    created_at: dt.datetime
    deployment: str = DEFAULT_DEPLOYMENT

    @property
    def csr(self) -> x509.CertificateSigningRequest:
        from cryptography import x509

        return x509.load_pem_x509_csr(self.pem.encode())


@dataclass(frozen=True)
class TrustEntry:
    """One of an appliance's Trusted Certificate Authorities."""

    fingerprint: str
    label: str
    certificate: x509.Certificate
    deployment: str = DEFAULT_DEPLOYMENT


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log line: what was done to what, and its details (JSON values)."""

    at: dt.datetime
    action: str
    subject: str
    detail: dict[str, object]
    deployment: str | None = None  # None: the whole store (or a row older than 0003)
    actor: str | None = None  # who (None: unknown, a row older than 0003)


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment file as the store kept it."""

    text: str
    path: str | None
    name: str = DEFAULT_DEPLOYMENT  # its ``[deployment] name``
    #: what commands read of the file, kept with it as JSON (None: a row older than
    #: schema 0009, whose text must be parsed; see lifecycle.status.settings_json)
    facts: str | None = None


@dataclass(frozen=True)
class DeploymentSummary:
    """One deployment of a store: how many identities it holds, when its file was last
    applied (None: never, e.g. a store made before deployments had names)."""

    name: str
    identities: int
    last_applied: dt.datetime | None
    path: str | None


class CertFacts(NamedTuple):
    """What the certificates table stores about a certificate besides identity and version
    (computed where the certificate is made, a worker process included: a named tuple,
    which crosses the pool's pipe at a third of a dataclass's pickling cost)."""

    fingerprint: str
    spki: str
    serial: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    pem: str

    def row(self) -> dict[str, object]:
        """The certificates-table columns these facts fill."""
        return {
            "fingerprint": self.fingerprint,
            "spki": self.spki,
            "serial": self.serial,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "pem": self.pem,
        }


def certificate_facts(cert: x509.Certificate) -> CertFacts:
    """The :class:`CertFacts` of ``cert``."""
    from ccapki.pki.certs import fingerprint
    from ccapki.pki.keys import public_key_fingerprint

    return CertFacts(
        fingerprint=fingerprint(cert),
        spki=public_key_fingerprint(cert.public_key()),
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        pem=pem_text(cert),
    )


@dataclass(frozen=True, init=False)
class IdentityRecord:
    """One freshly issued identity to persist (see :meth:`IdentityRepository.add`)."""

    identity: str
    key: PrivateKeyTypes | None  # None for a third-party certificate matched to a stored key
    key_type: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: CertSource
    #: the key as unencrypted PKCS#8 DER, when it was made elsewhere (a worker process);
    #: sealed as it is, never written anywhere else
    key_der: bytes | None = None
    #: :func:`certificate_facts` of ``certificate``, when already computed (by a worker)
    facts: CertFacts | None = None
    #: the key sealed already with the store's data key (by the worker process that made
    #: it: the key never leaves that process unsealed), as (nonce, sealed PKCS#8 DER)
    key_sealed: tuple[bytes, bytes] | None = None

    def __init__(
        self,
        identity: str,
        key: PrivateKeyTypes | None,
        key_type: str,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        source: CertSource,
        key_der: bytes | None = None,
        facts: CertFacts | None = None,
        key_sealed: tuple[bytes, bytes] | None = None,
    ) -> None:
        # the fields set at once, as StoredIdentity's (a bulk apply makes one per identity)
        self.__dict__.update(
            identity=identity,
            key=key,
            key_type=key_type,
            certificate=certificate,
            chain=chain,
            source=source,
            key_der=key_der,
            facts=facts,
            key_sealed=key_sealed,
        )


class ProbeVerdict(enum.StrEnum):
    """What a probe found at an endpoint, held against the inventory."""

    EXPECTED = "expected"  # the identity's current certificate
    STALE = "stale"  # an older version of the identity (not reloaded since a renewal)
    UNKNOWN = "unknown"  # a certificate the store does not know (drift: installed by hand)
    TEMPORARY = "temporary"  # the appliance's install-time temporary certificate
    HA_MISMATCH = "ha-mismatch"  # HA peers present different certificates
    UNREACHABLE = "unreachable"  # refused, timed out, no such host
    NOT_TLS = "not-tls"  # something answered, not TLS
    HANDSHAKE = "handshake-error"  # TLS, but the handshake failed

    @property
    def served(self) -> bool:
        """Whether the endpoint presented a certificate (the probe reached TLS)."""
        return self in (
            ProbeVerdict.EXPECTED,
            ProbeVerdict.STALE,
            ProbeVerdict.UNKNOWN,
            ProbeVerdict.TEMPORARY,
            ProbeVerdict.HA_MISMATCH,
        )


@dataclass(frozen=True)
class ProbeRecord:
    """One probe of one endpoint: what it presented, and how that compares with the store.

    ``since``: when probes of this endpoint first saw this certificate (kept across runs
    while it stays the same; filled in by :meth:`ProbeRepository.add`)."""

    appliance: str
    kind: str
    address: str
    at: dt.datetime
    verdict: ProbeVerdict
    reason: str = ""
    protocol: str | None = None
    leaf_sha256: str | None = None
    chain_pem: str | None = None
    identity: str | None = None
    version: int | None = None
    latency_ms: int | None = None
    since: dt.datetime | None = None
    deployment: str = DEFAULT_DEPLOYMENT

    def __init__(
        self,
        appliance: str,
        kind: str,
        address: str,
        at: dt.datetime,
        verdict: ProbeVerdict,
        reason: str = "",
        protocol: str | None = None,
        leaf_sha256: str | None = None,
        chain_pem: str | None = None,
        identity: str | None = None,
        version: int | None = None,
        latency_ms: int | None = None,
        since: dt.datetime | None = None,
        deployment: str = DEFAULT_DEPLOYMENT,
    ) -> None:
        # the fields set at once (a frozen dataclass's own __init__ sets each through
        # object.__setattr__: twice as long; `status` reads the last probe of 10,000s of
        # endpoints)
        self.__dict__.update(
            appliance=appliance,
            kind=kind,
            address=address,
            at=at,
            verdict=verdict,
            reason=reason,
            protocol=protocol,
            leaf_sha256=leaf_sha256,
            chain_pem=chain_pem,
            identity=identity,
            version=version,
            latency_ms=latency_ms,
            since=since,
            deployment=deployment,
        )


@dataclass(frozen=True)
class NoticeRecord:
    """A notification: once per (subject, event, stage, certificate). ``at``: when a watcher
    claimed it; ``sent_at``: when it went out on every channel (None: in flight, or its
    watcher died sending it: the claim is taken over once it is old)."""

    subject: str
    event: str
    stage: str
    fingerprint: str
    at: dt.datetime
    channels: tuple[str, ...]
    deployment: str = DEFAULT_DEPLOYMENT
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run of ``probe`` or ``watch``; ``ok`` is None while it runs."""

    id: int
    kind: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    ok: bool | None
    summary: str
    deployment: str = DEFAULT_DEPLOYMENT


class Role(enum.StrEnum):
    """What a service user may do; each role may do what the ones before it may."""

    VIEWER = "viewer"  # read
    OPERATOR = "operator"  # issue, import, CSRs, trust apply, renew
    ADMIN = "admin"  # export private keys, backups, users

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class UserRecord:
    """A service user (never the password: ``password_hash`` is an Argon2id hash)."""

    id: int
    name: str
    role: Role
    password_hash: str | None = field(repr=False)
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class TokenRecord:
    """An API token (only its SHA-256 is kept)."""

    id: int
    user_id: int
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class SessionRecord:
    """A web session (only the SHA-256 of its cookie is kept)."""

    id: int
    user_id: int
    csrf_token: str = field(repr=False)
    created_at: dt.datetime = field(compare=False)
    expires_at: dt.datetime = field(compare=False)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobRecord:
    """A background job. ``params``, ``progress`` and ``result`` are JSON values."""

    id: int
    kind: str
    deployment: str | None
    params: dict[str, object]
    state: JobState
    created_by: str | None
    created_at: dt.datetime
    owner: str | None
    lease_until: dt.datetime | None
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancel_requested: bool
    progress: dict[str, object]
    result: object | None
    error: str | None
