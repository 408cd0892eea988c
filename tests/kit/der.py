"""Certificates cryptography will not build: SHA-1 signatures and raw (even broken) extensions.

cryptography's builder refuses SHA-1 and a second extension with the same OID, and checks
every extension value it encodes. These helpers take a certificate it built, re-encode its
DER (TBS with another signature algorithm and/or another extensions block) and sign the TBS
again with the issuer's key, so the result carries a real signature and still loads.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

__all__ = ["algorithm_id", "der_tlv", "oid_der", "raw_extension", "rebuild", "resign_sha1"]

_SEQUENCE, _BIT_STRING, _OCTET_STRING, _OID, _BOOLEAN, _NULL = 0x30, 0x03, 0x04, 0x06, 0x01, 0x05
_EXTENSIONS_TAG = 0xA3


def der_tlv(tag: int, body: bytes) -> bytes:
    """One DER tag-length-value."""
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _items(body: bytes) -> list[tuple[int, bytes]]:
    """The (tag, whole TLV) items of a constructed value's body."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(body):
        tag, first = body[i], body[i + 1]
        j = i + 2
        if first & 0x80:
            k = first & 0x7F
            length = int.from_bytes(body[j : j + k], "big")
            j += k
        else:
            length = first
        out.append((tag, body[i : j + length]))
        i = j + length
    return out


def _content(tlv: bytes) -> bytes:
    first = tlv[1]
    return tlv[2 + (first & 0x7F if first & 0x80 else 0) :]


def oid_der(dotted: str) -> bytes:
    """The DER of an OBJECT IDENTIFIER."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for n in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(chunk))
    return der_tlv(_OID, bytes(body))


def algorithm_id(oid: str, params: bytes | None = None) -> bytes:
    """An AlgorithmIdentifier: the OID and, when given, raw parameter DER."""
    return der_tlv(_SEQUENCE, oid_der(oid) + (params or b""))


def raw_extension(oid: str, value: bytes, *, critical: bool = False) -> bytes:
    """One Extension (OID, critical flag, OCTET STRING of ``value``): any bytes at all."""
    flag = der_tlv(_BOOLEAN, b"\xff") if critical else b""
    return der_tlv(_SEQUENCE, oid_der(oid) + flag + der_tlv(_OCTET_STRING, value))


def _algorithm(key: CertificateIssuerPrivateKeyTypes, sha1: bool) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        oid = "1.2.840.113549.1.1.5" if sha1 else "1.2.840.113549.1.1.11"
        return der_tlv(_SEQUENCE, oid_der(oid) + der_tlv(_NULL, b""))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return der_tlv(_SEQUENCE, oid_der("1.2.840.10045.4.1" if sha1 else "1.2.840.10045.4.3.2"))
    raise TypeError("rebuild signs with RSA or ECDSA keys only")


def rebuild(
    cert: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    extensions: Sequence[bytes] | None = None,
    sha1: bool = False,
    key_algorithm: bytes | None = None,
    signature_algorithm: bytes | None = None,
    serial: int | None = None,
    v1: bool = False,
) -> x509.Certificate:
    """``cert`` with its extensions replaced by ``extensions`` (raw DER, see
    :func:`raw_extension`; ``None`` keeps them) and signed again by ``issuer_key`` (RSA
    PKCS#1 v1.5 or ECDSA, with SHA-1 when ``sha1``, else SHA-256).

    ``key_algorithm`` replaces the AlgorithmIdentifier of the subject public key (the key
    bits stay), ``signature_algorithm`` the one naming the signature (in the TBS and
    outside it; the signature itself is still RSA/ECDSA as above): both raw DER, so any OID.
    ``serial`` replaces the serial number (negative or zero allowed); ``v1`` makes it an X.509
    version 1 certificate (no version field, no extensions).
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs_tlv = _items(_content(der))[0][1]
    fields = [tlv for _, tlv in _items(_content(tbs_tlv))]
    algorithm = signature_algorithm or _algorithm(issuer_key, sha1)
    offset = 1 if fields[0][0] == 0xA0 else 0
    fields[offset + 1] = algorithm
    if key_algorithm is not None:
        spki = [tlv for _, tlv in _items(_content(fields[offset + 5]))]
        fields[offset + 5] = der_tlv(_SEQUENCE, key_algorithm + spki[1])
    if extensions is not None:
        fields = [f for f in fields if f[0] != _EXTENSIONS_TAG]
        if extensions:
            block = der_tlv(_SEQUENCE, b"".join(extensions))
            fields.append(der_tlv(_EXTENSIONS_TAG, block))
    if serial is not None:
        raw = serial.to_bytes((serial.bit_length() + 8) // 8 or 1, "big", signed=True)
        fields[offset] = der_tlv(0x02, raw)
    if v1:
        fields = [f for f in fields[offset:] if f[0] != _EXTENSIONS_TAG]
    tbs = der_tlv(_SEQUENCE, b"".join(fields))
    digest = hashes.SHA1() if sha1 else hashes.SHA256()
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), digest)
    elif isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs, ec.ECDSA(digest))
    else:  # pragma: no cover - _algorithm refused it
        raise TypeError("rebuild signs with RSA or ECDSA keys only")
    outer = tbs + algorithm + der_tlv(_BIT_STRING, b"\x00" + signature)
    with warnings.catch_warnings():  # a negative or zero serial: that deviation is the point
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(der_tlv(_SEQUENCE, outer))


def resign_sha1(
    cert: x509.Certificate, issuer_key: CertificateIssuerPrivateKeyTypes
) -> x509.Certificate:
    """The same certificate signed with SHA-1 (cryptography no longer signs with SHA-1)."""
    return rebuild(cert, issuer_key, sha1=True)
