"""A leaf trusted directly (the CCA 4.7+ true self-signed identity pinned as the HA peer's
CA) whose keyUsage lacks digitalSignature, on the IKEv2 heartbeat. Unlike JSSE (see
test_stack_jsse_trusted_leaf_key_usage.py), strongSwan reads the keyUsage of a directly
trusted peer certificate too: charon refuses it ('rejecting certificate without
digitalSignature or nonRepudiation keyUsage flags', pubkey_authenticator.c
is_compliant_cert), for an ECDSA and an RSA key, CA:FALSE or CA:TRUE, trusted directly or
under a CA; a keyUsage of nonRepudiation alone is enough. ccapki's ``strongswan`` rule says
the same. Pinned offline, then against two real charon daemons in network namespaces
(``ccapki.lab.ipsec``; needs root and strongSwan: skips without them, fails under CI=true).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ccapki.lab.corpus import CorpusCase
from ccapki.lab.differential import run_corpus
from ccapki.lab.ipsec import CHARON, ipsec_unavailable
from ccapki.trust import Code, verify_for_stack
from kit.certs import Minted, mint, utcnow
from kit.tools import need, require_tool

from .conftest import NOW

HOST = "cas-dorm-a.walk25.test"


def _non_repudiation_only(now: dt.datetime) -> Minted:
    """A true self-signed identity whose keyUsage is nonRepudiation alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=397))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Minted(cert, key)


def _leaves(now: dt.datetime) -> dict[str, tuple[Minted, Minted, bool]]:
    """name -> (the heartbeat's certificate, its trust anchor, charon accepts it)."""
    ec_leaf = mint(HOST, aki=False, digital_signature=False, now=now)
    rsa_leaf = mint(
        HOST, aki=False, digital_signature=False, key=rsa.generate_private_key(65537, 2048), now=now
    )
    ca_identity = mint(HOST, ca=True, aki=False, digital_signature=False, now=now)
    root = mint("Walk 25 Root", ca=True, now=now)
    chained = mint(HOST, issuer=root, digital_signature=False, now=now)
    nr = _non_repudiation_only(now)
    return {
        "ecdsa": (ec_leaf, ec_leaf, False),
        "rsa": (rsa_leaf, rsa_leaf, False),
        "ca-true": (ca_identity, ca_identity, False),
        "under-a-ca": (chained, root, False),
        "non-repudiation-only": (nr, nr, True),
    }


def test_strongswan_reads_the_key_usage_of_a_directly_trusted_leaf_offline() -> None:
    for name, (leaf, anchor, accepted) in _leaves(NOW).items():
        v = verify_for_stack("strongswan", leaf.cert, [], [anchor.cert], peer_name=None, at=NOW)
        if accepted:
            assert v.ok, (name, v.errors)
        else:
            assert [f.code for f in v.errors] == [Code.WRONG_KEY_USAGE], (name, v.errors)


def test_strongswan_agrees_on_a_directly_trusted_leaf_without_digital_signature() -> None:
    for tool in (CHARON, "swanctl", "ip"):
        require_tool(tool)
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat: {why}")
    now = utcnow()
    leaves = _leaves(now)
    cases = [
        CorpusCase(
            f"swan-trusted-leaf-ku-{name}",
            f"the heartbeat's certificate ({name}) without digitalSignature",
            leaf.cert,
            leaf.key,
            (),
            (anchor.cert,),
            HOST,
            "server",
        )
        for name, (leaf, anchor, _) in leaves.items()
    ]
    report = run_corpus(["strongswan"], now=now, cases=cases)
    for c, (_, _, accepted) in zip(cases, leaves.values(), strict=True):
        real, ours = report.real[(c.name, "strongswan")], report.offline[(c.name, "strongswan")]
        assert real.ok is accepted, (c.name, real.detail)
        if not accepted:
            assert "digitalSignature or nonRepudiation" in real.detail, (c.name, real.detail)
        assert ours.ok is real.ok, (c.name, real.detail, ours.detail)
