"""Key types, generation and public-key fingerprints."""

from __future__ import annotations

import hashlib
from typing import cast

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from ccapki.pki.keytypes import KeyType

__all__ = [
    "KeyType",
    "describe_public_key",
    "generate_key",
    "key_type_name",
    "private_key_der",
    "public_key_fingerprint",
]


_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.ECDSA_P256: ec.SECP256R1(),
    KeyType.ECDSA_P384: ec.SECP384R1(),
}


def generate_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    """Generate a fresh private key of ``key_type``."""
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    bits = int(key_type.value.split("-")[1])
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_der(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 DER of ``key`` (for sealing in the store; never written as is)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public(key: PrivateKeyTypes | PublicKeyTypes) -> PublicKeyTypes:
    """The public half of ``key`` (a public key is its own)."""
    if hasattr(key, "private_bytes"):  # cheaper than isinstance over the seven key ABCs
        return cast("PrivateKeyTypes", key).public_key()
    return key


def public_key_fingerprint(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex.

    The same value for a private key, its public key, a CSR's key and a certificate's key,
    so certificates are matched to keys by one dictionary lookup.
    """
    from cryptography.hazmat.primitives import serialization

    der = _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def describe_public_key(key: CertificatePublicKeyTypes) -> tuple[str, int]:
    """A short algorithm name and size in bits, e.g. ``("ECDSA P-256", 256)``, ``("RSA", 2048)``,
    ``("Ed448", 456)``, ``("DSA", 2048)``; another key type's class name and 0."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"ECDSA {names.get(key.curve.name, key.curve.name)}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__.lstrip("_"), 0


def key_type_name(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """What a private or public key is, in :class:`KeyType` spelling: ``rsa-2048``,
    ``ecdsa-p256``; also ``ecdsa-p521``, ``ed25519``, ``ed448``, ``dsa-2048`` for keys made
    elsewhere (an imported key is recorded as what it is, not as the plan's type)."""
    pub = _public(key)
    if isinstance(pub, rsa.RSAPublicKey):
        return f"rsa-{pub.key_size}"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}
        return f"ecdsa-{names.get(pub.curve.name, pub.curve.name)}"
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(pub, ed448.Ed448PublicKey):
        return "ed448"
    if isinstance(pub, dsa.DSAPublicKey):
        return f"dsa-{pub.key_size}"
    return type(pub).__name__.removeprefix("_").lower()
