"""Fuzzing parse_material: for ANY bytes it returns Material or raises FileFormatError or
PasswordError, with a one-line message naming the file. Seeds are valid files minted at
import time; hypothesis truncates them, flips bits, splices and inserts bytes."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccapki.errors import FileFormatError, PasswordError
from ccapki.pki import export
from ccapki.pki.formats import Material, parse_material
from ccapki.pki.issue import IdentityRequest, build_csr
from kit.certs import make_pki

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@cache
def seeds() -> tuple[tuple[str, bytes], ...]:
    p = make_pki()
    key_pem = p.leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    enc_key = p.leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    trad_enc = p.leaf_key.private_bytes(
        PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    csr = build_csr(IdentityRequest("cas1.example.org"), p.leaf_key)
    trusted = (
        b"-----BEGIN TRUSTED CERTIFICATE-----\n"
        + base64.encodebytes(p.root.public_bytes(DER) + b"\x30\x00")
        + b"-----END TRUSTED CERTIFICATE-----\n"
    )
    return (
        ("bundle.pem", p.leaf.public_bytes(PEM) + p.inter.public_bytes(PEM) + key_pem),
        ("leaf.cer", p.leaf.public_bytes(DER)),
        ("chain.p7b", pkcs7.serialize_certificates([p.leaf, p.inter], DER)),
        ("chain.p7c", pkcs7.serialize_certificates([p.leaf, p.inter], PEM)),
        ("id.p12", export.pkcs12("id", p.leaf, p.leaf_key, p.chain, b"pw", kdf_rounds=64)),
        (
            "old.pfx",
            export.pkcs12("id", p.leaf, p.leaf_key, (), b"pw", legacy=True, kdf_rounds=64),
        ),
        ("enc.key", enc_key),
        ("trad.key", trad_enc),
        (
            "k.der",
            p.leaf_key.private_bytes(
                DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
        ("req.csr", csr.public_bytes(DER)),
        ("trusted.pem", trusted),
    )


def check(data: bytes, source: str) -> None:
    for password in (None, b"pw"):
        error: FileFormatError | PasswordError | None = None
        try:
            result = parse_material(data, source=source, password=password)
        except (FileFormatError, PasswordError) as exc:
            error = exc
        if error is not None:
            assert str(error).startswith(f"{source}: ")
            assert "\n" not in str(error)
            assert error.hint
            continue
        assert isinstance(result, Material)
        assert not result.is_empty
        for cert in result.certificates:  # every lazily-parsed field is readable now
            _ = cert.subject, cert.issuer, cert.extensions, cert.public_key()
            _ = cert.not_valid_after_utc, cert.signature_hash_algorithm
            _ = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name, data = draw(st.sampled_from(seeds()))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice"]))
        if not buf:
            break
        at = draw(st.integers(0, len(buf) - 1))
        if op == "truncate":
            del buf[at:]
        elif op == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[at : at + draw(st.integers(1, 16))]
        else:
            _, other = draw(st.sampled_from(seeds()))
            cut = draw(st.integers(0, len(other)))
            buf[at:] = other[cut:]
    return name, bytes(buf)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data, "random.bin")


@FUZZ
@given(st.binary(max_size=600).map(lambda b: b"\x30\x82" + b))
def test_random_der_like(data: bytes) -> None:
    check(data, "random.der")


@FUZZ
@given(mutated())
def test_mutated_valid_files(case: tuple[str, bytes]) -> None:
    name, data = case
    check(data, name)


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                b"-----BEGIN CERTIFICATE-----",
                b"-----END CERTIFICATE-----",
                b"-----BEGIN PKCS7-----",
                b"-----END PKCS7-----",
                b"-----BEGIN RSA PRIVATE KEY-----",
                b"-----END RSA PRIVATE KEY-----",
                b"Proc-Type: 4,ENCRYPTED",
                b"DEK-Info: AES-256-CBC,00",
                b"MIIB",
                b"AAAA",
                b"\n",
                b"\r\n",
                b"====",
                b"-----BEGIN TRUSTED CERTIFICATE-----",
                b"-----END TRUSTED CERTIFICATE-----",
                b"\xff\xfe",
            ]
        ),
        max_size=30,
    ).map(b"".join)
)
def test_pem_shaped_noise(data: bytes) -> None:
    check(data, "noise.pem")


def test_every_seed_parses() -> None:
    for name, data in seeds():
        material = parse_material(data, source=name, password=b"pw")
        assert not material.is_empty, name
