"""Signing certificates with a key this process does not hold (a PKCS#11 token).

cryptography signs a :class:`~cryptography.x509.CertificateBuilder` only with a private key
object it holds. For a key in a token, :func:`sign_certificate` builds the certificate the
same way, signed by a throwaway *stand-in* key of the same type, so its TBSCertificate
carries the right signature algorithm; it then has the external key sign those exact TBS
bytes and puts the certificate together with asn1crypto (the TBS bytes untouched), and
checks the signature with the external key's public key before returning it.

Pure: no token code here. The edge (:mod:`ccapki.hsm`) passes in an :class:`ExternalKey`.
"""

from __future__ import annotations

import abc
import functools

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

__all__ = [
    "ExternalKey",
    "ExternalSignatureError",
    "SignerKey",
    "hash_for_public_key",
    "self_test",
    "sign_certificate",
    "signing_hash",
]


class ExternalSignatureError(ValueError):
    """An external key returned a signature that does not verify with its public key."""


class ExternalKey(abc.ABC):
    """A private key held elsewhere (a PKCS#11 token) that signs bytes on request.

    :meth:`sign` returns the signature as X.509 carries it: PKCS#1 v1.5 for RSA, a DER
    ``ECDSA-Sig-Value`` for ECDSA.
    """

    @abc.abstractmethod
    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        """The public half (what the certificate names, and what AKIs are made from)."""

    @abc.abstractmethod
    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """The signature over ``data`` with ``algorithm``; raises what the key's holder
        raises (a :class:`~ccapki.errors.CcapkiError` naming the fix)."""


#: What a CA signs with: a private key in memory, or an :class:`ExternalKey`.
SignerKey = CertificateIssuerPrivateKeyTypes | ExternalKey


def hash_for_public_key(
    key: CertificateIssuerPublicKeyTypes,
) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash ccapki signs with for a key of this kind: SHA-384 for ECDSA of 384 bits
    or more, SHA-256 for other RSA and ECDSA keys, None for Ed25519 / Ed448."""
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return hashes.SHA256()
    return None


def signing_hash(key: SignerKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """:func:`hash_for_public_key` of ``key``'s public half (a key in memory is told by
    its type, without deriving its public key: this runs once per certificate)."""
    if isinstance(key, ExternalKey):
        return hash_for_public_key(key.public_key())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None


@functools.cache
def _stand_in(kind: str) -> CertificateIssuerPrivateKeyTypes:
    """A throwaway key of ``kind`` ("rsa" or "ec"), made once per process: it only fixes the
    signature algorithm of a TBSCertificate; its signature is thrown away."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _verify(
    public: CertificateIssuerPublicKeyTypes,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm,
) -> None:
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(algorithm))
        else:  # pragma: no cover - refused before signing
            raise ExternalSignatureError(f"cannot check a {type(public).__name__} signature")
    except InvalidSignature:
        raise ExternalSignatureError(
            "the external key's signature does not verify with its public key"
        ) from None


def self_test(key: ExternalKey) -> None:
    """Have ``key`` sign a test message and check the signature with its public key.
    Raises :class:`ExternalSignatureError` when it does not verify, and what the key
    raises."""
    algorithm = signing_hash(key)
    if algorithm is None:
        raise ValueError(f"an external {type(key.public_key()).__name__} key cannot sign here")
    data = b"ccapki self-test: a CA key in a token signs this"
    _verify(key.public_key(), key.sign(data, algorithm), data, algorithm)


def sign_certificate(builder: x509.CertificateBuilder, key: SignerKey) -> x509.Certificate:
    """``builder`` signed by ``key`` (SHA-256, or SHA-384 for ECDSA P-384 and larger).

    A key in memory signs through cryptography. An :class:`ExternalKey` (RSA: PKCS#1 v1.5;
    ECDSA) signs the TBSCertificate of the same builder; the certificate is assembled with
    asn1crypto and its signature checked. Raises :class:`ExternalSignatureError` when the
    external signature does not verify, ``ValueError`` for an external key of another type,
    and what the external key raises.
    """
    algorithm = signing_hash(key)
    if not isinstance(key, ExternalKey):
        return builder.sign(key, algorithm)
    from asn1crypto import x509 as ax  # type: ignore[import-untyped]

    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        stand_in = _stand_in("rsa")
    elif isinstance(public, ec.EllipticCurvePublicKey):
        stand_in = _stand_in("ec")
    else:
        raise ValueError(f"an external {type(public).__name__} key cannot sign certificates here")
    assert algorithm is not None  # RSA and ECDSA always hash
    draft = builder.sign(stand_in, algorithm)
    tbs = draft.tbs_certificate_bytes
    signature = key.sign(tbs, algorithm)
    _verify(public, signature, tbs, algorithm)
    parsed = ax.Certificate.load(draft.public_bytes(serialization.Encoding.DER))
    whole = ax.Certificate(
        {
            "tbs_certificate": parsed["tbs_certificate"],
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": signature,
        }
    )
    cert = x509.load_der_x509_certificate(whole.dump())
    if cert.tbs_certificate_bytes != tbs:  # pragma: no cover - asn1crypto keeps them as read
        raise ExternalSignatureError("the assembled certificate's TBS differs from the signed one")
    return cert
