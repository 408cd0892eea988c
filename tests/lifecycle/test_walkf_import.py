"""Walkthrough F: what a real third-party CA sends back, decided by ``plan_import``.

- A certificate that is a CA (basicConstraints CA:TRUE) answering an identity's CSR is
  refused as that identity's certificate (it was kept as an outside CA, exit 0, the
  identity left without a certificate).
- Each file keeps the path its CA sent: with a cross-signed intermediate (same name and key,
  another root) in another file of the batch, the chain stored, and so the root the
  appliances must trust, no longer depends on the order the files are given in.
- A SHA-1 signature or an RSA key under 2048 bits warns at import (agents and browsers
  refuse it), as ``trust check`` says later.

The certificates are minted at test time by outside CAs (``kit.certs.OutsideCA``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from ccapki.errors import InputError
from ccapki.lifecycle.importing import Known, plan_import
from ccapki.pki.certs import fingerprint
from ccapki.pki.formats import Kind, Material
from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store.records import KeyRecord, KeyState
from ccapki.topology.loader import parse_deployment
from kit.certs import NOW, OutsideCA
from kit.cli import ha_pair, standalone
from kit.der import resign_sha1

from .conftest import deployment, tp_names

DEP = parse_deployment(
    deployment(
        cam=ha_pair("cam", "10.0.0"),
        cas=[
            standalone("cas-tp", "10.6.0.1", source="third-party"),
            standalone("cas-tq", "10.6.0.2", source="third-party"),
        ],
    )
)


def material(name: str, *certs: x509.Certificate) -> Material:
    return Material(
        name, certificates=certs, certificate_kinds=(Kind.PEM_CERTIFICATE,) * len(certs)
    )


def pending(*keys: object) -> Known:
    """The store holding ``keys`` pending for cas-tp, then cas-tq (their CSRs' keys)."""
    made = NOW - dt.timedelta(days=1)
    records = {}
    for key, identity in zip(keys, ("cas-tp", "cas-tq"), strict=False):
        spki = public_key_fingerprint(key)  # type: ignore[arg-type]
        records[spki] = KeyRecord(spki, "ecdsa-p256", identity, KeyState.PENDING, made)
    return Known(records, {}, {}, ())


def cross_signed(subject_ca: OutsideCA, by: OutsideCA) -> x509.Certificate:
    """``subject_ca``'s issuing CA (its name and key) signed by ``by``'s root."""
    key = subject_ca.inter.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject_ca.inter.subject)
        .issuer_name(by.root.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=10))
        .not_valid_after(NOW + dt.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(by.root_key.public_key()),
            critical=False,
        )
        .sign(by.root_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def other() -> OutsideCA:
    return OutsideCA.make("Other Trust")


def test_a_ca_certificate_answering_a_csr_is_refused(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), key.public_key(), **tp_names()
    )
    as_ca = (
        x509.CertificateBuilder(
            leaf.issuer, leaf.subject, leaf.public_key(), leaf.serial_number,
            leaf.not_valid_before_utc, leaf.not_valid_after_utc,
            [e for e in leaf.extensions if not isinstance(e.value, x509.BasicConstraints)],
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(outside.inter_key, hashes.SHA256())
    )  # fmt: skip
    batch = [material("cas-tp.pem", as_ca, *outside.chain)]
    with pytest.raises(InputError) as refused:
        plan_import(batch, DEP, pending(key), NOW)
    assert "cas-tp.pem for cas-tp: a CA certificate (basicConstraints CA:TRUE)" in str(
        refused.value
    )
    assert "end-entity TLS server certificate" in refused.value.hint
    # --force takes it as the identity's certificate, never as a CA of its own
    plan = plan_import(batch, DEP, pending(key), NOW, force=True)
    assert [(i.identity, i.certificate) for i in plan.imported] == [("cas-tp", as_ca)]
    assert fingerprint(as_ca) not in {fingerprint(c) for c in plan.new_cas}


@pytest.mark.parametrize("order", ["own-first", "cross-first"])
def test_each_file_keeps_the_path_its_ca_sent(
    outside: OutsideCA, other: OutsideCA, order: str
) -> None:
    tp_key, tq_key = generate_key(KeyType.ECDSA_P256), generate_key(KeyType.ECDSA_P256)
    tp = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), tp_key.public_key(), **tp_names()
    )
    tq = outside.sign(
        build_name("cas-tq.example.org", "Workflow Org"), tq_key.public_key(),
        **tp_names("cas-tq", "10.6.0.2"),
    )  # fmt: skip
    cross = cross_signed(outside, other)
    files = [
        material("cas-tp.pem", tp, outside.inter, outside.root),
        material("cas-tq.pem", tq, cross, other.root),
    ]
    if order == "cross-first":
        files.reverse()
    plan = plan_import(files, DEP, pending(tp_key, tq_key), NOW)
    chains = {i.identity: i.chain for i in plan.imported}
    assert chains == {"cas-tp": outside.chain, "cas-tq": (cross, other.root)}


def test_a_weak_signature_or_key_warns(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), key.public_key(), **tp_names()
    )
    sha1 = resign_sha1(leaf, outside.inter_key)  # cryptography signs no SHA-1
    [imp] = plan_import(
        [material("sha1.pem", sha1, *outside.chain)], DEP, pending(key), NOW
    ).imported
    assert any("agents and browsers will refuse it" in w and "SHA-1" in w for w in imp.warnings)

    small = rsa.generate_private_key(65537, 1024)
    weak = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), small.public_key(), **tp_names()
    )
    [imp] = plan_import(
        [material("rsa1024.pem", weak, *outside.chain)], DEP, pending(small), NOW
    ).imported
    assert any("1024-bit RSA key" in w for w in imp.warnings), imp.warnings
