"""The tricky cases found by running ``ccapki inspect``, ``import`` and ``trust check
--clients`` over pyca's own test corpus (cryptography-vectors 50.0.2: certificates, CSRs,
PKCS#7, PKCS#12, keys in every encoding, malformed files), one test per class of defect.

Inputs are minted here with cryptography (or asn1crypto, for a structure cryptography does
not write) where it can make them; the few it refuses to make (a SHA-1 CSR, an MD5-signed
certificate, a key encrypted by an unknown scheme, a DH key) are small vector files copied
into ``tests/pki/data`` (origin, licence and SHA-256 in ``data/SOURCES.txt``).

Each is refused (or read) with one ``error:`` line and a ``hint:`` that names the right fix,
exit 2, no traceback, no "PRIVATE KEY" on the terminal, and nothing written to the store.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from kit.certs import NOW
from kit.cli import FAQ, Cli, db_bytes, deployment, error_with_hint, ok, write

DATA = Path(__file__).parent / "data"
E = serialization.Encoding
F = serialization.PrivateFormat


def _refused(cli: Cli, *args: str | Path) -> str:
    """``ccapki ARGS`` refused as bad input (exit 2, error + hint): its first line."""
    r = error_with_hint(cli(*args))
    assert "PRIVATE KEY" not in r.both, r.both
    return r.err.splitlines()[0]


# ---------------------------------------------------------------- a private key, never named


def test_an_openssh_private_key_is_said_as_such_and_its_label_never_printed(
    cli: Cli, tmp_path: Path
) -> None:
    """asymmetric/OpenSSH/*.key: ``holds no ... private key (PEM blocks: OPENSSH PRIVATE
    KEY)`` denied the file held a key, and put "PRIVATE KEY" on the terminal."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = write(tmp_path / "id_ed25519", key.private_bytes(E.PEM, F.OpenSSH, _none()))
    line = _refused(cli, "inspect", path)
    assert "OpenSSH-format private key" in line, line
    hint = cli.seen[-1].err
    assert "ssh-keygen -p -m PKCS8" in hint, hint


def test_a_private_key_block_of_another_format_is_named_without_its_label(
    cli: Cli, tmp_path: Path
) -> None:
    label = "SSH2 ENCRYPTED PRIVATE KEY"
    body = f"-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n"
    line = _refused(cli, "inspect", write(tmp_path / "putty.pem", body))
    assert "a private key of another format (SSH2 ENCRYPTED)" in line, line


# ---------------------------------------------------------------- weak is not corrupt


def test_a_sha1_csr_verifies_as_openssl_says(cli: Cli) -> None:
    """x509/requests/rsa_sha1.pem (and dsa_sha1, san_rsa_sha1): ``openssl req -verify``
    says OK, but cryptography's ``is_signature_valid`` is False for any SHA-1 signature,
    and ccapki called the CSR "corrupt"."""
    info = ok(cli("inspect", DATA / "vectors-rsa_sha1-csr.pem", "--json")).json()
    assert info["kind"] == "csr"
    assert info["signature_valid"] is True
    assert "sha1" in info["signature_algorithm"]


def test_a_sha1_csr_whose_signature_is_damaged_is_still_refused(cli: Cli, tmp_path: Path) -> None:
    csr = x509.load_pem_x509_csr((DATA / "vectors-rsa_sha1-csr.pem").read_bytes())
    der = bytearray(csr.public_bytes(E.DER))
    der[-1] ^= 0x01  # the last byte of the signature
    line = _refused(cli, "inspect", write(tmp_path / "damaged.csr", bytes(der)))
    assert "signature does not verify" in line, line


def test_an_md5_signed_certificate_is_unsupported_not_malformed(cli: Cli) -> None:
    """x509/v1_cert.pem (MD5), verisign_md2_root.pem (MD2), e-trust.ru.der (a GOST key):
    well-formed, so "malformed ... get a fresh copy" named the wrong fix."""
    line = _refused(cli, "inspect", DATA / "vectors-v1-md5-cert.pem")
    assert "uses an algorithm ccapki cannot read" in line, line
    assert "malformed" not in line, line
    assert "made again" in cli.seen[-1].err


def test_a_csr_of_a_form_cryptography_does_not_read_is_not_corrupt(cli: Cli) -> None:
    """x509/requests/freeipa-bad-critical.pem (a FreeIPA CSR with a multi-valued
    attribute; ``openssl req -verify`` says OK), san_x400address.der: "malformed ... get a
    fresh copy", when a fresh copy is the same."""
    line = _refused(cli, "inspect", DATA / "vectors-freeipa-multivalued-attribute-csr.pem")
    assert "uses a form ccapki cannot read (Only single-valued attributes" in line, line
    assert "made again" in cli.seen[-1].err


# ---------------------------------------------------------------- the password is not to blame


def test_a_key_encrypted_by_an_unknown_scheme_is_not_a_wrong_password(cli: Cli) -> None:
    """asymmetric/PKCS8/enc-unknown-*.pem, bad-encryption-oid.pem: every password was "wrong
    password", so the user would try passwords for ever."""
    path = DATA / "vectors-pkcs8-enc-unknown-algorithm.pem"
    asked = _refused(cli, "inspect", path)  # first, as any encrypted key: its password
    assert "no password was given" in asked, asked
    line = _refused(cli, "inspect", path, "--password", "foobar")
    assert "encrypted with a scheme ccapki cannot decrypt" in line, line
    assert "wrong password" not in line, line
    assert "openssl pkcs8 -topk8" in cli.seen[-1].err


# ---------------------------------------------------------------- keys that cannot sign


def test_a_dh_key_is_a_key_that_cannot_sign(cli: Cli) -> None:
    """asymmetric/DH/dhkey.pem: cryptography's FFDH deprecation warning (an error while a
    file is parsed) was shown as the reason the key is "not a valid private key"."""
    line = _refused(cli, "inspect", DATA / "vectors-dhkey.pem")
    assert "Diffie-Hellman (DH) key, which cannot sign" in line, line
    assert "deprecated" not in line, line


def test_an_x25519_key_is_named_in_words(cli: Cli, tmp_path: Path) -> None:
    key = x25519.X25519PrivateKey.generate()
    path = write(tmp_path / "x.key", key.private_bytes(E.DER, F.PKCS8, _none()))
    line = _refused(cli, "inspect", path)
    assert "holds an X25519 key, which cannot sign" in line, line


# ---------------------------------------------------------------- well-formed DER of other kinds


def test_a_der_public_key_is_said_as_such_not_malformed(cli: Cli, tmp_path: Path) -> None:
    """asymmetric/DER_Serialization/*_public_key.der: a PEM public key was named, a DER one
    was "malformed DER" with "get a fresh copy"."""
    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = pub.public_bytes(E.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    line = _refused(cli, "inspect", write(tmp_path / "pub.der", der))
    assert "is a DER public key" in line, line
    assert "a public key cannot be imported" in cli.seen[-1].err


def test_a_cross_certificate_pair_is_der_of_another_kind(cli: Cli, tmp_path: Path) -> None:
    """x509/PKITS_data/certpairs/*.cp (348 files): well-formed DER, said to be malformed."""
    from asn1crypto import core  # type: ignore[import-untyped]
    from asn1crypto import x509 as ax

    class CertificatePair(core.Sequence):  # type: ignore[misc]  # X.509's crossCertificatePair
        _fields = [  # noqa: RUF012 - asn1crypto's schema
            ("forward", ax.Certificate, {"explicit": 0, "optional": True}),
            ("reverse", ax.Certificate, {"explicit": 1, "optional": True}),
        ]

    cert = _self_signed(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cross CA")]))
    pair = CertificatePair({"forward": ax.Certificate.load(cert.public_bytes(E.DER))})
    line = _refused(cli, "inspect", write(tmp_path / "pair.cp", pair.dump()))
    assert "is DER data of another kind (well-formed" in line, line
    assert "malformed" not in line, line


@pytest.mark.parametrize("encoding", [E.PEM, E.DER], ids=["pem", "der"])
def test_an_encrypted_pkcs7_is_not_a_certificate_bundle(
    cli: Cli, tmp_path: Path, encoding: serialization.Encoding
) -> None:
    """pkcs7/enveloped*.pem, enveloped-no-content.der: an encrypted (enveloped) PKCS#7 was
    "not a valid PKCS#7 bundle: Only basic signed structures are currently supported. NID
    for this data was 23" (PEM) and "malformed DER" (DER), with "get a fresh copy"."""
    recipient = _self_signed(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "r")]), rsa=True)
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(b"hello").add_recipient(recipient)
    data = builder.encrypt(encoding, [])
    line = _refused(cli, "inspect", write(tmp_path / "enveloped.p7m", data))
    assert "PKCS#7/CMS structure" in line, line
    assert "not a certificate bundle" in line, line
    assert "NID" not in line, line


def test_damaged_der_is_still_malformed(cli: Cli, tmp_path: Path) -> None:
    cert = _self_signed(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
    der = cert.public_bytes(E.DER)
    line = _refused(cli, "inspect", write(tmp_path / "cut.bin", der[:40] + b"\x00" * 8))
    assert "malformed" in line or "truncated" in line, line


# ---------------------------------------------------------------- a key that is another key


def test_a_dsa_key_whose_public_value_is_not_its_own_is_refused(cli: Cli, tmp_path: Path) -> None:
    """asymmetric/DSA/custom/nilpotent.pem (y = 1): cryptography loads a DSA key without
    checking y = g^x mod p; ccapki kept it pending under y's fingerprint, and the PKCS#8
    it sealed opened as another key (the store's own check: "is another key")."""
    line = _refused(cli, "inspect", write(tmp_path / "dsa.pem", _inconsistent_dsa_pem()))
    assert "DSA private key whose public key does not follow from it" in line, line


# ---------------------------------------------------------------- names, as openssl names them


def test_the_issuer_names_its_attributes_as_the_subject_does(cli: Cli, tmp_path: Path) -> None:
    """x509/wildcard_san.pem, custom/all_supported_names.pem: the subject said
    ``emailAddress=``, the same name as issuer ``1.2.840.113549.1.9.1=``."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ca@example.org"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "345"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Root"),
        ]
    )
    path = write(tmp_path / "root.pem", _self_signed(name).public_bytes(E.PEM))
    info = ok(cli("inspect", path, "--json")).json()
    assert info["issuer"] == info["subject"], info
    assert "emailAddress=ca@example.org" in info["issuer"], info
    assert "serialNumber=345" in info["issuer"], info


def test_the_alternate_sha1_with_rsa_oid_is_named_without_a_stray_dash(
    cli: Cli, tmp_path: Path
) -> None:
    """x509/custom/alternate-rsa-sha1-oid.der (signature OID 1.3.14.3.2.29, which
    cryptography names ``_RSA_WITH_SHA1``): inspect showed the signature as
    ``-rsa-with-sha1``."""
    from asn1crypto import core, parser  # type: ignore[import-untyped]

    def parts(der: bytes) -> list[bytes]:  # a SEQUENCE's elements, each as its DER
        body, out = parser.parse(der)[4], []
        while body:
            _, _, _, header, contents, trailer = parser.parse(body, strict=False)
            out.append(header + contents + trailer)
            body = body[len(out[-1]) :]
        return out

    def seq(*items: bytes) -> bytes:
        return bytes(parser.emit(0, 1, 16, b"".join(items)))

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Windows CA")])
    cert = parts(_self_signed(name, rsa=True).public_bytes(E.DER))
    alg = seq(core.ObjectIdentifier("1.3.14.3.2.29").dump(), core.Null().dump())
    tbs = parts(cert[0])
    tbs[2] = alg  # the signature algorithm, inside and outside the signed part
    path = write(tmp_path / "old.cer", seq(seq(*tbs), alg, cert[2]))
    assert (
        x509.load_der_x509_certificate(path.read_bytes()).signature_algorithm_oid.dotted_string
        == "1.3.14.3.2.29"
    )
    info = ok(cli("inspect", path, "--json")).json()
    assert info["signature_algorithm"] == "rsa-with-sha1", info
    assert "-rsa-with-sha1" not in ok(cli("inspect", path)).out


def test_a_certificate_whose_two_signature_algorithms_differ_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """x509/custom/mismatch_inner_outer_sig_algorithm.der (signed part: ECDSA with SHA3-224,
    outside it: SHA-256 with RSA): RFC 5280 4.1.1.2 says the two MUST match, and OpenSSL
    and Java refuse such a certificate, but inspect showed it as a sound one, signed with
    the outer algorithm, and import kept it as a CA."""
    from asn1crypto import core, parser  # type: ignore[import-untyped]

    def parts(der: bytes) -> list[bytes]:  # a SEQUENCE's elements, each as its DER
        body, out = parser.parse(der)[4], []
        while body:
            _, _, _, header, contents, trailer = parser.parse(body, strict=False)
            out.append(header + contents + trailer)
            body = body[len(out[-1]) :]
        return out

    def seq(*items: bytes) -> bytes:
        return bytes(parser.emit(0, 1, 16, b"".join(items)))

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mismatched CA")])
    cert = parts(_self_signed(name, rsa=True).public_bytes(E.DER))
    tbs = parts(cert[0])
    tbs[2] = seq(core.ObjectIdentifier("1.2.840.10045.4.3.2").dump())  # ecdsa-with-SHA256
    path = write(tmp_path / "mismatch.cer", seq(seq(*tbs), cert[1], cert[2]))
    ok(cli("apply", write(tmp_path / "d.toml", deployment())))
    before = db_bytes(keyfile_store)
    for args in (("inspect", path), ("import", path), ("trust", "add", "cam", path)):
        refused = _refused(cli, *args)
        assert "two signature algorithms differ" in refused, refused
    assert db_bytes(keyfile_store) == before


# ---------------------------------------------------------------- not a file ccapki reads


def test_an_openssh_public_key_of_any_type_is_said_as_such(cli: Cli, tmp_path: Path) -> None:
    """asymmetric/OpenSSH/ecdsa-*.pub, sk-*.pub and certs/*.pub: an ``ssh-rsa`` or
    ``ssh-ed25519`` line was "an OpenSSH public key", an ``ecdsa-sha2-nistp256`` (or
    security-key) one "text with no PEM block" with "paste the certificate including its
    BEGIN and END lines" (the wrong fix)."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    line = public.public_bytes(E.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert line.startswith(b"ecdsa-sha2-nistp256 ")
    for path in (
        write(tmp_path / "id_ecdsa.pub", line + b" admin@laptop\n"),
        write(tmp_path / "id_sk.pub", b"sk-" + line + b"\n"),
        write(tmp_path / "id_sk_ed25519.pub", b"sk-ssh-ed25519@openssh.com AAAAGnNr admin\n"),
    ):
        refused = _refused(cli, "inspect", path)
        assert "is an OpenSSH public key" in refused, refused
        assert "BEGIN and END lines" not in cli.seen[-1].err


# ---------------------------------------------------------------- a store: nothing half-written


def test_refused_imports_and_bundles_leave_the_store_as_it_was(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """``import`` of each refused file writes nothing; ``trust check --clients`` of an
    encrypted key hints at a CA bundle, not at ``openssl pkcs12`` (it is no PKCS#12)."""
    ok(cli("apply", FAQ))
    before = db_bytes(keyfile_store)
    key = ec.generate_private_key(ec.SECP256R1())
    openssh = write(tmp_path / "id_ecdsa", key.private_bytes(E.PEM, F.OpenSSH, _none()))
    for path in (
        openssh,
        DATA / "vectors-pkcs8-enc-unknown-algorithm.pem",
        DATA / "vectors-v1-md5-cert.pem",
        DATA / "vectors-dhkey.pem",
        write(tmp_path / "dsa.pem", _inconsistent_dsa_pem()),
    ):
        _refused(cli, "import", path, "--password", "foobar")
    assert db_bytes(keyfile_store) == before
    encrypted = key.private_bytes(E.PEM, F.PKCS8, serialization.BestAvailableEncryption(b"pw"))
    _refused(cli, "trust", "check", "--clients", write(tmp_path / "enc.key", encrypted))
    hint = cli.seen[-1].err
    assert "openssl pkcs12" not in hint, hint
    assert "never a key" in hint, hint


# ---------------------------------------------------------------- helpers


def _none() -> serialization.KeySerializationEncryption:
    return serialization.NoEncryption()


def _inconsistent_dsa_pem() -> bytes:
    """A traditional ``DSA PRIVATE KEY`` whose public value y is not g^x mod p (written with
    asn1crypto: cryptography refuses to make one)."""
    from asn1crypto import keys, pem  # type: ignore[import-untyped]

    numbers = _dsa_key().private_numbers()
    params = numbers.public_numbers.parameter_numbers
    der = keys.DSAPrivateKey(
        {
            "version": 0,
            "p": params.p,
            "q": params.q,
            "g": params.g,
            "public_key": numbers.public_numbers.y * 2 % params.p,
            "private_key": numbers.x,
        }
    ).dump()
    return bytes(pem.armor("DSA PRIVATE KEY", der))


@functools.cache
def _rsa_key() -> rsa_.RSAPrivateKey:  # an enveloped PKCS#7's recipient: RSA only
    return rsa_.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(1024)


def _self_signed(name: x509.Name, *, rsa: bool = False) -> x509.Certificate:
    key = _rsa_key() if rsa else ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
