"""Issuing: root and intermediate CAs, appliance identities, CSRs.

Pure functions: they take keys, names and an explicit ``now`` and return certificates.
Every certificate carries SKI and AKI (leaves too, so RFC 5280 verifiers such as
``cryptography.x509.verification`` accept them), critical basicConstraints and keyUsage,
and appliance identities carry serverAuth + clientAuth because CAM and CAS do mutual TLS.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.pki.certs import display_name
from ccapki.pki.request import IdentityRequest
from ccapki.pki.signer import SignerKey, sign_certificate

__all__ = [
    "BACKDATE",
    "MAX_NAME_LENGTH",
    "IdentityRequest",
    "IdentityTemplate",
    "Issuer",
    "build_csr",
    "build_name",
    "build_name_text",
    "fit_name",
    "issue_identity",
    "make_intermediate_ca",
    "make_root_ca",
]


#: Certificates start a little before ``now`` to absorb clock skew between appliances
#: (the first root cause Cisco names for "certificate not yet valid").
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Issuer:
    """A signing CA: its certificate and private key (in memory, or an
    :class:`~ccapki.pki.signer.ExternalKey` such as a key in a PKCS#11 token)."""

    certificate: x509.Certificate
    key: SignerKey

    @property
    def name(self) -> str:
        return display_name(self.certificate)

    @functools.cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The AKI of what this CA signs (computed once per issuer, not once per leaf)."""
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())


#: The longest CN, O or OU (RFC 5280's upper bounds), in bytes of UTF-8 as cryptography
#: counts them.
MAX_NAME_LENGTH = 64


def fit_name(text: str, suffix: str = "") -> str:
    """``text`` + ``suffix`` as a name attribute of at most 64 bytes of UTF-8 (the limit
    cryptography applies to CN, O and OU): ``text`` is shortened (ending in "...") when
    they do not fit, so the suffix ("Clean Access Root CA", "G2") stays whole and two CAs of
    one organisation keep different names. A leaf's commonName is only a label (clients
    match the subjectAltName), so a host name longer than 64 bytes is shortened the same
    way."""
    full = f"{text} {suffix}" if suffix else text
    if len(full.encode()) <= MAX_NAME_LENGTH:
        return full
    tail = f"... {suffix}" if suffix else "..."
    room = MAX_NAME_LENGTH - len(tail.encode())
    short = text
    while short and len(short.encode()) > room:
        short = short[:-1]
    return short.rstrip() + tail


def build_name(
    common_name: str,
    organization: str | None = None,
    organizational_unit: str | None = None,
    *,
    country: str | None = None,
    state: str | None = None,
    locality: str | None = None,
    email: str | None = None,
) -> x509.Name:
    """The subject name in the order CAs' forms and OpenSSL use: C, ST, L, O, OU (each when
    given), CN (shortened to 64 characters when longer: see :func:`fit_name`), then
    emailAddress (when given). Raises ``ValueError`` for an O or OU longer than 64 or a C
    that is not two characters (the deployment loader refuses those first)."""
    before, after, _ = _name_frame(
        organization, organizational_unit, country, state, locality, email
    )
    return x509.Name([*before, _cn(common_name), *after])


def build_name_text(
    common_name: str,
    organization: str | None = None,
    organizational_unit: str | None = None,
    *,
    country: str | None = None,
    state: str | None = None,
    locality: str | None = None,
    email: str | None = None,
) -> tuple[x509.Name, str]:
    """:func:`build_name` and its RFC 4514 text (``Name.rfc4514_string()``: the last
    attribute first), the text of the attributes every identity of a deployment shares
    made once."""
    before, after, texts = _name_frame(
        organization, organizational_unit, country, state, locality, email
    )
    cn = _cn(common_name)
    return x509.Name([*before, cn, *after]), texts.format(cn.rfc4514_string())


def _cn(common_name: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName(
        [x509.NameAttribute(NameOID.COMMON_NAME, fit_name(common_name))]
    )


@functools.lru_cache(maxsize=256)
def _name_frame(
    organization: str | None,
    organizational_unit: str | None,
    country: str | None,
    state: str | None,
    locality: str | None,
    email: str | None,
) -> tuple[
    tuple[x509.RelativeDistinguishedName, ...], tuple[x509.RelativeDistinguishedName, ...], str
]:
    """What the subjects of a deployment's identities share around their CN (made once,
    not once per identity): the RDNs before it and after it, and the RFC 4514 text of the
    whole with ``{}`` where the CN's goes."""
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if state:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, state))
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if organizational_unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit))
    before = tuple(x509.RelativeDistinguishedName([a]) for a in attrs)
    # PKCS#9 emailAddress, an IA5String (cryptography's default for it)
    after = (
        (x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)]),)
        if email
        else ()
    )
    # Name.rfc4514_string(): the RDNs' texts, last first, joined by commas
    texts = [r.rfc4514_string().replace("{", "{{").replace("}", "}}") for r in before]
    texts.append("{}")
    texts += [r.rfc4514_string().replace("{", "{{").replace("}", "}}") for r in after]
    return before, after, ",".join(reversed(texts))


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return hashes.SHA256()
    return None  # Ed25519 / Ed448


def _key_usage(*, ca: bool, public_key: CertificateIssuerPublicKeyTypes) -> x509.KeyUsage:
    rsa_leaf = isinstance(public_key, rsa.RSAPublicKey) and not ca
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_leaf,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _base(
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    issuer_public_key: CertificateIssuerPublicKeyTypes,
    now: dt.datetime,
    days: int,
    aki: x509.AuthorityKeyIdentifier | None = None,
) -> x509.CertificateBuilder:
    if aki is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )


def make_root_ca(
    common_name: str,
    key: SignerKey,
    *,
    now: dt.datetime,
    days: int,
    organization: str | None = None,
    path_length: int | None = 1,
) -> x509.Certificate:
    """A self-signed root CA (CA:TRUE, keyCertSign + cRLSign, pathLen as given); ``key``
    in memory or external (see :func:`~ccapki.pki.signer.sign_certificate`)."""
    name = build_name(common_name, organization)
    pub = key.public_key()
    builder = (
        _base(name, name, pub, pub, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True, public_key=pub), critical=True)
    )
    return sign_certificate(builder, key)


def make_intermediate_ca(
    issuer: Issuer,
    common_name: str,
    public_key: CertificateIssuerPublicKeyTypes,
    *,
    now: dt.datetime,
    days: int,
    organization: str | None = None,
    path_length: int | None = 0,
) -> x509.Certificate:
    """A subordinate signing CA under ``issuer`` (pathLen 0: it signs only leaves)."""
    builder = (
        _base(
            build_name(common_name, organization),
            issuer.certificate.subject,
            public_key,
            issuer.key.public_key(),
            now,
            days,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True, public_key=public_key), critical=True)
    )
    return sign_certificate(builder, issuer.key)


def _encoded(ext: x509.Extension[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    """``ext`` with its value as the DER cryptography encodes it (``public_bytes``), for a
    builder to copy as is: the certificate holds the same bytes, and reads back as the
    same typed extension, while the builder no longer walks the value's Python attributes
    at each certificate (~15 us of the ~140 us a bulk-issued certificate takes)."""
    value = ext.value
    return x509.Extension(
        ext.oid, ext.critical, x509.UnrecognizedExtension(ext.oid, value.public_bytes())
    )


#: The extensions every appliance identity shares (made once: a bulk issue signs thousands).
_LEAF_BC = _encoded(
    x509.Extension(
        x509.BasicConstraints.oid, True, x509.BasicConstraints(ca=False, path_length=None)
    )
)
_SKI_OID = x509.SubjectKeyIdentifier.oid
_SAN_OID = x509.SubjectAlternativeName.oid


def _naive_utc(when: dt.datetime) -> dt.datetime:
    """``when`` as the naive UTC time a certificate builder keeps (what
    ``CertificateBuilder.not_valid_before`` makes of it; a naive time is UTC already)."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo is not None else when


class IdentityTemplate:
    """What every identity certificate signed by one issuer at one ``now`` for ``days``
    shares, made once: :meth:`issue` then signs one request at a time.

    The certificates are those :func:`issue_identity` makes, extension for extension and in
    the same order (SKI, AKI, basicConstraints, keyUsage, SAN, EKU); the builder is made in
    one step from the shared parts rather than rebuilt a method call at a time (a bulk issue
    signs thousands). Raises ``ValueError`` for a validity cryptography refuses (the same
    checks, made once here).
    """

    def __init__(
        self,
        now: dt.datetime,
        days: int,
        *,
        issuer: Issuer | None = None,
        server_auth: bool = True,
        client_auth: bool = True,
    ) -> None:
        before, after = now - BACKDATE, now + dt.timedelta(days=days)
        # cryptography's own checks of the validity (1950 or later, after > before), once
        x509.CertificateBuilder().not_valid_before(before).not_valid_after(after)
        self._before, self._after = _naive_utc(before), _naive_utc(after)
        self._issuer = issuer
        self._aki: x509.Extension[x509.ExtensionType] | None = None
        self._key_usage: dict[bool, x509.Extension[x509.ExtensionType]] = {}
        usages = []
        if server_auth:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client_auth:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        self._eku = (
            [
                _encoded(
                    x509.Extension(x509.ExtendedKeyUsage.oid, False, x509.ExtendedKeyUsage(usages))
                )
            ]
            if usages
            else []
        )

    def _aki_of(self, issuer: Issuer) -> x509.Extension[x509.ExtensionType]:
        found = self._aki
        if found is None:
            aki = issuer.authority_key_identifier
            found = self._aki = _encoded(x509.Extension(aki.oid, False, aki))
        return found

    def _ku(
        self, public_key: CertificateIssuerPublicKeyTypes
    ) -> x509.Extension[x509.ExtensionType]:
        rsa_leaf = isinstance(public_key, rsa.RSAPublicKey)
        found = self._key_usage.get(rsa_leaf)
        if found is None:
            usage = _key_usage(ca=False, public_key=public_key)
            found = self._key_usage[rsa_leaf] = _encoded(x509.Extension(usage.oid, True, usage))
        return found

    def issue(
        self,
        request: IdentityRequest,
        public_key: CertificateIssuerPublicKeyTypes,
        *,
        self_key: CertificateIssuerPrivateKeyTypes | None = None,
        subject: x509.Name | None = None,
    ) -> x509.Certificate:
        """The identity certificate of ``request`` on ``public_key``: signed by the
        template's issuer, or (a template without one) by ``self_key``, the private key of
        ``public_key`` (a true self-signed certificate). ``subject``: ``request.subject``
        when the caller made it already (it is built anew at each reading). Raises
        ``ValueError`` for a self-signed identity without its key."""
        issuer = self._issuer
        if subject is None:
            subject = request.subject
        if issuer is None:
            if self_key is None:
                raise ValueError("a self-signed identity needs its own private key")
            signer: SignerKey = self_key
            issuer_name = subject
            aki: x509.Extension[x509.ExtensionType] = x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),
            )
        else:
            signer = issuer.key
            issuer_name = issuer.certificate.subject
            aki = self._aki_of(issuer)
        builder = x509.CertificateBuilder(
            issuer_name,
            subject,
            public_key,
            x509.random_serial_number(),
            self._before,
            self._after,
            [
                x509.Extension(
                    _SKI_OID, False, x509.SubjectKeyIdentifier.from_public_key(public_key)
                ),
                aki,
                _LEAF_BC,
                self._ku(public_key),
                x509.Extension(_SAN_OID, False, request.san),
                *self._eku,
            ],
        )
        return sign_certificate(builder, signer)


def issue_identity(
    request: IdentityRequest,
    public_key: CertificateIssuerPublicKeyTypes,
    *,
    now: dt.datetime,
    days: int,
    issuer: Issuer | None = None,
    self_key: CertificateIssuerPrivateKeyTypes | None = None,
    server_auth: bool = True,
    client_auth: bool = True,
) -> x509.Certificate:
    """An appliance identity certificate.

    With ``issuer`` it is signed by that CA; without, it is a *true self-signed*
    certificate (its own root, as CCA 4.7+ makes them) and ``self_key`` must be the
    private key of ``public_key``. Either way it is an end-entity certificate
    (CA:FALSE) whose SAN holds every name and IP the request lists. Many identities of
    one issuer: :class:`IdentityTemplate`.
    """
    if issuer is None and self_key is None:
        raise ValueError("a self-signed identity needs its own private key")
    template = IdentityTemplate(
        now, days, issuer=issuer, server_auth=server_auth, client_auth=client_auth
    )
    return template.issue(request, public_key, self_key=self_key)


def build_csr(
    request: IdentityRequest,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    extra_usages: Sequence[x509.ObjectIdentifier] = (),
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request with the plan's subject and SANs, asking for server + client auth."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, *extra_usages]
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(request.subject)
        .add_extension(request.san, critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    return builder.sign(key, _hash_for(key))
