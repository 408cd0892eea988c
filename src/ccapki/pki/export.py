"""Writing the files appliances and admins need. Every writer returns bytes.

The caller writes them with :func:`ccapki.fsutil.atomic_write`, and with ``private=True`` for
anything holding a key (:func:`pem_bundle`, :func:`key_pem`, :func:`pkcs12`).

- :func:`pem_bundle`: the FAQ's single upload file: certificate, then chain, then private key;
- :func:`cert_pem`, :func:`chain_pem`, :func:`fullchain_pem`, :func:`key_pem`, :func:`cert_der`;
- :func:`pkcs12`: AES-256-CBC + PBKDF2 + HMAC-SHA-256 by default; ``legacy=True`` gives
  3DES (PBES1 SHA-1) with a SHA-1 MAC for old Java and Windows.

``chain`` is always ordered leaf-upward (as :class:`ccapki.pki.chain.SortedChain.chain` is).
Every writer leaves the self-signed root out unless ``include_root=True`` (the FAQ: upload the
certificate with its intermediates; the root belongs in the trust store, not the file).
A key that does not belong to the certificate is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12 as _pkcs12

from ccapki.errors import InputError
from ccapki.pki.certs import is_self_signed
from ccapki.pki.keys import public_key_fingerprint

__all__ = [
    "PKCS12_KDF_ROUNDS",
    "PKCS12_LEGACY_KDF_ROUNDS",
    "KeyFormat",
    "cert_der",
    "cert_pem",
    "chain_pem",
    "check_key_matches",
    "fullchain_pem",
    "key_pem",
    "pem_bundle",
    "pkcs12",
]

KeyFormat = Literal["pkcs8", "pkcs1"]

#: PBKDF2-HMAC-SHA-256 rounds for modern PKCS#12 files.
PKCS12_KDF_ROUNDS = 200_000
#: The iteration count OpenSSL itself writes for legacy PKCS#12 (what old importers expect).
PKCS12_LEGACY_KDF_ROUNDS = 2048

_PEM = serialization.Encoding.PEM
_PKCS12_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
)


def check_key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> None:
    """Refuse a private key that does not belong to ``cert`` (compared by public key)."""
    if public_key_fingerprint(cert.public_key()) != public_key_fingerprint(key):
        raise InputError(
            f"the private key does not match the certificate {cert.subject.rfc4514_string()} "
            f"(certificate key {public_key_fingerprint(cert.public_key())[:16]}..., "
            f"given key {public_key_fingerprint(key)[:16]}...)",
            "use the key saved when the CSR for this certificate was made",
        )


def _chain(chain: Sequence[x509.Certificate], include_root: bool) -> list[x509.Certificate]:
    return [c for c in chain if include_root or not is_self_signed(c)]


def cert_pem(cert: x509.Certificate) -> bytes:
    """The certificate alone, PEM."""
    return cert.public_bytes(_PEM)


def cert_der(cert: x509.Certificate) -> bytes:
    """The certificate alone, DER."""
    return cert.public_bytes(serialization.Encoding.DER)


def chain_pem(chain: Sequence[x509.Certificate], *, include_root: bool = False) -> bytes:
    """The chain above the leaf, leaf-upward, PEM; the self-signed root only if asked."""
    return b"".join(c.public_bytes(_PEM) for c in _chain(chain, include_root))


def fullchain_pem(
    cert: x509.Certificate, chain: Sequence[x509.Certificate], *, include_root: bool = False
) -> bytes:
    """The certificate, then its chain (what a TLS server sends), PEM."""
    return cert_pem(cert) + chain_pem(chain, include_root=include_root)


def key_pem(
    key: PrivateKeyTypes, *, key_format: KeyFormat = "pkcs8", password: bytes | None = None
) -> bytes:
    """The private key, PEM.

    ``pkcs8`` writes ``PRIVATE KEY`` (``ENCRYPTED PRIVATE KEY`` with a password, PBES2
    AES-256). ``pkcs1`` writes the traditional form: ``RSA PRIVATE KEY`` for RSA keys,
    SEC1 ``EC PRIVATE KEY`` for EC keys (with a password: OpenSSL's AES-256-CBC
    ``Proc-Type``/``DEK-Info`` encryption, which CCA and Apache read).
    """
    if password is not None and not password:
        raise InputError("an empty key password", "give a non-empty password, or none at all")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    if key_format == "pkcs8":
        fmt = serialization.PrivateFormat.PKCS8
    elif key_format == "pkcs1":
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InputError(
                f"a {type(key).__name__.removeprefix('_')} key has no PKCS#1/SEC1 form",
                "write it as pkcs8",
            )
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        raise InputError(f"unknown key format {key_format!r}", "use pkcs8 or pkcs1")
    return key.private_bytes(_PEM, fmt, encryption)


def pem_bundle(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: PrivateKeyTypes,
    *,
    include_root: bool,
    key_format: KeyFormat = "pkcs8",
    key_password: bytes | None = None,
) -> bytes:
    """The FAQ's single upload file: certificate, then chain (leaf-upward), then private key."""
    check_key_matches(cert, key)
    return fullchain_pem(cert, chain, include_root=include_root) + key_pem(
        key, key_format=key_format, password=key_password
    )


def pkcs12(
    name: str,
    cert: x509.Certificate,
    key: PrivateKeyTypes,
    chain: Sequence[x509.Certificate],
    password: bytes,
    legacy: bool = False,
    *,
    include_root: bool = False,
    kdf_rounds: int | None = None,
) -> bytes:
    """A PKCS#12/PFX file with the key, the certificate (friendly name ``name``) and chain
    (the self-signed root only if asked, as for every other format).

    Default: PBES2 with AES-256-CBC and PBKDF2, HMAC-SHA-256 MAC. ``legacy=True``:
    PBES1 SHA-1 + 3DES for key and certificates and a SHA-1 MAC, the format old Java
    keystores and older Windows read (OpenSSL 3 needs ``-legacy`` to read it).
    """
    if not password:
        raise InputError(
            "a PKCS#12 file needs a password", "give one with --password (it is never stored)"
        )
    check_key_matches(cert, key)
    if not isinstance(key, _PKCS12_KEYS):
        raise InputError(
            f"a {type(key).__name__.removeprefix('_')} key cannot go into a PKCS#12 file",
            "export it as pem-bundle instead",
        )
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (
            builder.kdf_rounds(kdf_rounds or PKCS12_LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(_pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303  (the legacy format's MAC, on request)
        )
    else:
        builder = (
            builder.kdf_rounds(kdf_rounds or PKCS12_KDF_ROUNDS)
            .key_cert_algorithm(_pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return _pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"),
        key,
        cert,
        _chain(chain, include_root) or None,
        builder.build(password),
    )
