"""IdentityTemplate (what a bulk issue signs with) makes the certificates the builder's
step-by-step API makes: same names, validity, extensions in the same order."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.pki.issue import (
    BACKDATE,
    IdentityRequest,
    IdentityTemplate,
    Issuer,
    issue_identity,
    make_root_ca,
)

NOW = dt.datetime(2026, 11, 27, 10, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def _request() -> IdentityRequest:
    return IdentityRequest(
        common_name="cas1.example.test",
        dns_names=("cas1.example.test",),
        ip_addresses=(ipaddress.ip_address("10.0.0.7"),),
        organization="Example Org",
    )


def _reference(
    request: IdentityRequest,
    public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer_name: x509.Name,
    issuer_public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    days: int,
) -> x509.CertificateBuilder:
    """The builder step by step, as ccapki built identities before the template."""
    rsa_leaf = isinstance(public, rsa.RSAPublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(1)
        .not_valid_before(NOW - BACKDATE)
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, rsa_leaf, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(request.san, critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )


def _same(cert: x509.Certificate, ref: x509.Certificate) -> None:
    assert cert.subject == ref.subject
    assert cert.issuer == ref.issuer
    assert cert.not_valid_before_utc == ref.not_valid_before_utc
    assert cert.not_valid_after_utc == ref.not_valid_after_utc
    assert cert.signature_hash_algorithm.name == ref.signature_hash_algorithm.name  # type: ignore[union-attr]
    assert [(e.oid, e.critical, e.value) for e in cert.extensions] == [
        (e.oid, e.critical, e.value) for e in ref.extensions
    ]
    # byte for byte (the template hands the builder the shared extensions as encoded DER),
    # and each reads back as its own type
    assert [(e.oid, e.critical, e.value.public_bytes()) for e in cert.extensions] == [
        (e.oid, e.critical, e.value.public_bytes()) for e in ref.extensions
    ]
    assert not [e for e in cert.extensions if isinstance(e.value, x509.UnrecognizedExtension)]


@pytest.mark.parametrize("leaf", ["ec", "rsa"])
def test_template_issues_what_the_step_by_step_builder_makes(leaf: str) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_ca("Template Root", ca_key, now=NOW, days=3650)
    issuer = Issuer(root, ca_key)
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if leaf == "ec"
        else rsa.generate_private_key(65537, 2048)
    )
    request = _request()
    template = IdentityTemplate(NOW, 397, issuer=issuer)
    ref = _reference(request, key.public_key(), root.subject, ca_key.public_key(), 397).sign(
        ca_key, hashes.SHA256()
    )
    for cert in (
        template.issue(request, key.public_key()),
        template.issue(request, key.public_key()),  # the template serves again, unchanged
        issue_identity(request, key.public_key(), now=NOW, days=397, issuer=issuer),
    ):
        _same(cert, ref)
        cert.verify_directly_issued_by(root)
    # self-signed: its own issuer, its own key signs
    self_signed = IdentityTemplate(NOW, 30).issue(request, key.public_key(), self_key=key)
    ref = _reference(request, key.public_key(), request.subject, key.public_key(), 30).sign(
        key, hashes.SHA256()
    )
    _same(self_signed, ref)
    self_signed.verify_directly_issued_by(self_signed)


def test_template_refuses_what_the_builder_refuses() -> None:
    with pytest.raises(ValueError, match="1950"):
        IdentityTemplate(dt.datetime(1949, 6, 1, tzinfo=dt.UTC), 30)
    with pytest.raises(ValueError, match="after"):
        IdentityTemplate(NOW, -1)
    with pytest.raises(ValueError, match="own private key"):
        IdentityTemplate(NOW, 30).issue(
            _request(), ec.generate_private_key(ec.SECP256R1()).public_key()
        )


@pytest.mark.parametrize("email", [None, "pki@example.test"])
@pytest.mark.parametrize("country", [None, "US"])
@pytest.mark.parametrize(
    ("organization", "unit"),
    [
        (None, None),
        ("Acme, Inc.", None),
        ('#1 R+D "x" <y>; a=b', " lead"),
        ("Ünïcode {braces}", "a\\b "),
    ],
)
@pytest.mark.parametrize("common_name", ["cas1.example.test", "#cn,+=", " x{}y ", "x" * 70])
def test_name_text_is_the_names_own(
    common_name: str,
    organization: str | None,
    unit: str | None,
    country: str | None,
    email: str | None,
) -> None:
    """build_name_text (what a bulk issue writes as each subject's text, the parts every
    identity shares made once) gives build_name's Name and that Name's own RFC 4514 text,
    escaping included."""
    from ccapki.pki.issue import build_name, build_name_text

    kw = {"country": country, "state": "S,t" if organization else None, "email": email}
    name, text = build_name_text(common_name, organization, unit, **kw)
    assert name == build_name(common_name, organization, unit, **kw)
    assert text == name.rfc4514_string()
    req = IdentityRequest(common_name, organization=organization, organizational_unit=unit)
    assert req.subject_and_text() == (req.subject, req.subject.rfc4514_string())
