"""The certificate kit: every certificate a test uses is minted here, at test time.

Like trustme, a test asks for a CA and the certificates it signs, never for a file on disk:

- :data:`NOW` is the fixed clock the store, the CLI (``CCAPKI_NOW``) and the certificates share.
- :func:`mint` makes one certificate with raw cryptography; each knob breaks one rule (expired,
  no SAN, wrong EKU, no AKI, ...), so the trust engine's tests can mint every defect.
- :func:`make_pki` makes root -> issuing CA -> identity with ccapki's own issuer.
- :func:`make_ca` and :func:`issue` make a CA and the appliance identities it signs (the lab).
- :class:`OutsideCA` is a third-party CA (root, and an issuing CA unless told otherwise) that
  answers CSRs as a public CA does.
- :func:`pem`, :func:`key_pem`, :func:`sha256` encode what was minted.

For certificates cryptography refuses to build (SHA-1, raw or broken extensions) see
:mod:`kit.der`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key

if TYPE_CHECKING:
    from ccapki.lab import EndpointMaterial

__all__ = [
    "CLIENT_AUTH",
    "NOW",
    "SERVER_AUTH",
    "Ca",
    "Leaf",
    "Minted",
    "MintedChain",
    "OutsideCA",
    "Pki",
    "ec_key",
    "issue",
    "key_pem",
    "make_ca",
    "make_pki",
    "mint",
    "minted_chain",
    "pem",
    "rsa_key",
    "san_names",
    "sha256",
    "utcnow",
]

#: The fixed clock. OpenSSL checks validity against the wall clock (Python's ssl module cannot
#: set a verification time), so NOW must not lie in the future of the machine running the
#: tests: 2026-11-27 is when these tests were written; what is minted from it is valid for a
#: year and more.
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_KEEP: Any = object()  # "use the default" marker for mint() knobs


def utcnow() -> dt.datetime:
    """The machine's clock (for tests that cannot use ``NOW``: OpenSSL handshakes)."""
    return dt.datetime.now(dt.UTC)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """An unencrypted PKCS#8 PEM (for files a test hands to a server or to ``import``)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The DNS names and the IP addresses (as text) of ``cert``'s subjectAltName."""
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        list(san.get_values_for_type(x509.DNSName)),
        [str(i) for i in san.get_values_for_type(x509.IPAddress)],
    )


# ---------------------------------------------------------------------------- mint(): raw


def ec_key() -> CertificateIssuerPrivateKeyTypes:
    return ec.generate_private_key(ec.SECP256R1())


_RSA_CACHE: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per size for the whole session."""
    if bits not in _RSA_CACHE:
        _RSA_CACHE[bits] = rsa.generate_private_key(65537, bits)
    return _RSA_CACHE[bits]


@dataclass
class Minted:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mint(
    cn: str,
    *,
    issuer: Minted | None = None,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    ca: bool = False,
    path_length: int | None = None,
    start: dt.datetime | None = None,
    days: int = 397,
    san: Sequence[str] | None = _KEEP,
    eku: Sequence[x509.ObjectIdentifier] | None = _KEEP,
    key_cert_sign: bool | None = None,
    aki: bool = True,
    aki_key_id: bytes | None = None,
    bc: bool = True,
    bc_critical: bool = True,
    san_critical: bool = False,
    name_constraints: x509.NameConstraints | None = None,
    hash_alg: Any = _KEEP,
    now: dt.datetime = NOW,
    digital_signature: bool = True,
) -> Minted:
    """One certificate; ``issuer=None`` makes it self-signed. Knobs break one rule each.

    It starts at ``start`` (default: 5 minutes before ``now``) and lasts ``days``.
    """
    key = key or ec_key()
    pub = key.public_key()
    signer = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else x509.Name([])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    if issuer is None:
        issuer_name = subject
    begin = start if start is not None else now - dt.timedelta(minutes=5)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    if aki and aki_key_id is not None:  # an AKI naming another key than the signer's
        b = b.add_extension(x509.AuthorityKeyIdentifier(aki_key_id, None, None), critical=False)
    elif aki:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    if bc:
        b = b.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
            critical=bc_critical,
        )
    kcs = ca if key_cert_sign is None else key_cert_sign
    b = b.add_extension(
        x509.KeyUsage(
            digital_signature=digital_signature,
            content_commitment=False,
            key_encipherment=isinstance(pub, rsa.RSAPublicKey) and not ca,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=kcs,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    names = (None if ca else [cn]) if san is _KEEP else None if san is None else list(san)
    if names is not None:
        general: list[x509.GeneralName] = []
        for n in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                general.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(general), critical=san_critical)
    if eku is _KEEP:
        eku = None if ca else (SERVER_AUTH, CLIENT_AUTH)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if name_constraints is not None:
        b = b.add_extension(name_constraints, critical=True)
    if hash_alg is _KEEP:
        if isinstance(signer, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            hash_alg = hashes.SHA256()
        else:
            hash_alg = None
    return Minted(b.sign(signer, hash_alg), key)


@dataclass
class MintedChain:
    """Root -> intermediate -> identity, each a :class:`Minted` (cert and key)."""

    root: Minted
    inter: Minted
    leaf: Minted


def minted_chain(*, now: dt.datetime = NOW) -> MintedChain:
    """An internal PKI: root -> intermediate -> identity for cas1.example.com."""
    root = mint("Campus Root CA", ca=True, path_length=1, days=3650, now=now)
    inter = mint("Campus Issuing CA", issuer=root, ca=True, path_length=0, days=1825, now=now)
    leaf = mint("cas1.example.com", issuer=inter, san=["cas1.example.com", "10.0.0.11"], now=now)
    return MintedChain(root, inter, leaf)


# ---------------------------------------------------------------------------- ccapki's issuer


@dataclass(frozen=True)
class Pki:
    """Root -> issuing CA -> identity made by ccapki's own issuer."""

    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    inter: x509.Certificate
    inter_key: CertificateIssuerPrivateKeyTypes
    leaf: x509.Certificate
    leaf_key: CertificateIssuerPrivateKeyTypes

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return (self.inter, self.root)


def make_pki(
    key_type: KeyType = KeyType.ECDSA_P256,
    name: str = "cas1.example.org",
    root_name: str = "Example Root CA",
) -> Pki:
    root_key = generate_key(key_type)
    root = make_root_ca(root_name, root_key, now=NOW, days=3650, organization="Example")
    inter_key = generate_key(key_type)
    inter = make_intermediate_ca(
        Issuer(root, root_key), f"{root_name} Issuing", inter_key.public_key(), now=NOW, days=1825
    )
    leaf_key = generate_key(key_type)
    request = IdentityRequest(name, dns_names=(name, "localhost"))
    leaf = issue_identity(
        request, leaf_key.public_key(), now=NOW, days=365, issuer=Issuer(inter, inter_key)
    )
    return Pki(root, root_key, inter, inter_key, leaf, leaf_key)


@dataclass(frozen=True)
class Ca:
    """A CA: its root, the CA that signs (an intermediate, or the root itself), and the
    chain a leaf sends after itself."""

    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    issuer: Issuer
    chain: tuple[x509.Certificate, ...]

    @property
    def root_pem(self) -> bytes:
        return pem(self.root)


def make_ca(
    name: str,
    *,
    intermediate: bool = True,
    root_name: str | None = None,
    inter_name: str | None = None,
    key_type: KeyType = KeyType.ECDSA_P256,
    now: dt.datetime = NOW,
) -> Ca:
    """``{name} Root CA`` (3650 days from ``now``) and, unless ``intermediate=False``,
    ``{name} Issuing CA`` (1825 days) signing for it; both of organization ``name``."""
    root_key = generate_key(key_type)
    root = make_root_ca(
        root_name or f"{name} Root CA", root_key, now=now, days=3650, organization=name
    )
    if not intermediate:
        return Ca(root, root_key, Issuer(root, root_key), ())
    ikey = generate_key(key_type)
    inter = make_intermediate_ca(
        Issuer(root, root_key),
        inter_name or f"{name} Issuing CA",
        ikey.public_key(),
        now=now,
        days=1825,
        organization=name,
    )
    return Ca(root, root_key, Issuer(inter, ikey), (inter,))


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...]

    @property
    def cert_pem(self) -> bytes:
        return pem(self.cert)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(pem(c) for c in (self.cert, *self.chain))

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def material(self, trust: bytes) -> EndpointMaterial:
        """This identity served by a lab appliance that trusts ``trust`` (PEM roots)."""
        from ccapki.lab import EndpointMaterial

        return EndpointMaterial(self.chain_pem, self.key_pem, trust)


def issue(
    ca: Ca | None,
    common_name: str,
    dns: tuple[str, ...] = (),
    *,
    now: dt.datetime = NOW,
    days: int = 365,
    ips: tuple[str, ...] = ("127.0.0.1",),
) -> Leaf:
    """An appliance identity (serverAuth + clientAuth) signed by ``ca``, or self-signed."""
    key = generate_key(KeyType.ECDSA_P256)
    req = IdentityRequest(
        common_name,
        dns_names=dns or (common_name,),
        ip_addresses=tuple(ipaddress.ip_address(i) for i in ips),
    )
    if ca is None:
        cert = issue_identity(req, key.public_key(), now=now, days=days, self_key=key)
        return Leaf(cert, key, ())
    cert = issue_identity(req, key.public_key(), now=now, days=days, issuer=ca.issuer)
    return Leaf(cert, key, ca.chain)


# ---------------------------------------------------------------------------- outside CAs


@dataclass(frozen=True)
class OutsideCA:
    """A third-party CA (the one that signs our CSRs): ``{name} Root`` and, unless
    ``intermediate=False``, ``{name} Issuing CA``, made 30 days before ``now``.

    ``inter``/``inter_key`` is the CA that signs (the root itself without an intermediate);
    its certificates start an hour before ``now`` and last ``days``.
    """

    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    inter: x509.Certificate
    inter_key: CertificateIssuerPrivateKeyTypes
    now: dt.datetime = NOW

    @classmethod
    def make(
        cls,
        name: str = "Outside Trust",
        key_type: KeyType = KeyType.ECDSA_P256,
        *,
        now: dt.datetime = NOW,
        intermediate: bool = True,
    ) -> OutsideCA:
        ca = make_ca(
            name,
            intermediate=intermediate,
            root_name=f"{name} Root",
            key_type=key_type,
            now=now - dt.timedelta(days=30),
        )
        return cls(ca.root, ca.root_key, ca.issuer.certificate, ca.issuer.key, now)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What a certificate it signs sends after itself, up to the root."""
        return (self.root,) if self.inter is self.root else (self.inter, self.root)

    def sign(
        self,
        subject: x509.Name,
        public_key: Any,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        days: int = 365,
        eku: Sequence[x509.ObjectIdentifier] | None = (SERVER_AUTH, CLIENT_AUTH),
    ) -> x509.Certificate:
        start = not_before or self.now - dt.timedelta(hours=1)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.inter.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                critical=False,
            )
        )
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return b.sign(self.inter_key, hashes.SHA256())

    def sign_csr(self, csr: x509.CertificateSigningRequest, **kw: Any) -> x509.Certificate:
        """Answer a CSR as a CA does: its subject, its SANs (unless ``dns``/``ips`` given)."""
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        kw.setdefault("dns", san.get_values_for_type(x509.DNSName))
        kw.setdefault("ips", [str(i) for i in san.get_values_for_type(x509.IPAddress)])
        return self.sign(csr.subject, csr.public_key(), **kw)
