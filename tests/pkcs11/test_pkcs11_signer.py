"""sign_certificate with an external key: the TBS a stand-in key fixes, signed outside,
assembled with asn1crypto. Here the external key is a second, in-memory implementation of
the ExternalKey contract (the token's is tested against SoftHSM2 in test_token.py)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from ccapki.pki.issue import IdentityRequest, Issuer, issue_identity, make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.pki.signer import ExternalKey, ExternalSignatureError, sign_certificate
from kit.certs import NOW


class HeldElsewhere(ExternalKey):
    """An ExternalKey over a key in memory (``wrong``: signs with another key)."""

    def __init__(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, wrong: bool = False):
        self.key = key
        self.signer = generate_key(KeyType.ECDSA_P256) if wrong else key

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self.key.public_key()

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        if isinstance(self.signer, rsa.RSAPrivateKey):
            return self.signer.sign(data, padding.PKCS1v15(), algorithm)
        assert isinstance(self.signer, ec.EllipticCurvePrivateKey)
        return self.signer.sign(data, ec.ECDSA(algorithm))


@pytest.mark.parametrize("kind", [KeyType.ECDSA_P384, KeyType.ECDSA_P256, KeyType.RSA_2048])
def test_external_key_signs_root_and_leaf(kind: KeyType) -> None:
    key = generate_key(kind)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    outside = HeldElsewhere(key)
    root = make_root_ca("Outside Root", outside, now=NOW, days=30)
    root.verify_directly_issued_by(root)
    # the same builder signed in memory names the same algorithm
    assert (
        root.signature_algorithm_oid
        == make_root_ca("R", key, now=NOW, days=1).signature_algorithm_oid
    )
    leaf_key = generate_key(KeyType.ECDSA_P256)
    leaf = issue_identity(
        IdentityRequest("cas.example.edu", ("cas.example.edu",)),
        leaf_key.public_key(),
        now=NOW,
        days=10,
        issuer=Issuer(root, outside),
    )
    leaf.verify_directly_issued_by(root)


def test_a_wrong_external_signature_is_refused() -> None:
    key = generate_key(KeyType.ECDSA_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    from cryptography import x509

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW)
    )
    with pytest.raises(ExternalSignatureError):
        sign_certificate(builder, HeldElsewhere(key, wrong=True))
