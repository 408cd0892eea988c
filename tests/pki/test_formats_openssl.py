"""Interop with the real openssl command: its tools read what ccapki writes, and ccapki reads
what openssl writes. Integration tests: they skip without openssl unless CI is set."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.fsutil import atomic_write
from ccapki.pki import export, roots
from ccapki.pki.formats import Kind, parse_files
from ccapki.pki.keys import public_key_fingerprint
from kit.certs import NOW, Pki, make_pki
from kit.tools import openssl_s_server, require_tool

pytestmark = pytest.mark.integration

ATTIME = str(int(NOW.timestamp()) + 3600)  # verify at the tests' fixed clock, not the wall's
TIMEOUT = 20


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = require_tool("openssl")
    return subprocess.run(
        [exe, *args], input=input, capture_output=True, timeout=TIMEOUT, check=False
    )


def ok(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, text
    return text


def write(path: Path, data: bytes, *, private: bool = False) -> Path:
    return atomic_write(path, data, private=private)


@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_openssl_verify_exported_chain(pki: Pki, rsa_pki: Pki, tmp_path: Path, which: str) -> None:
    p = pki if which == "ec" else rsa_pki
    root = write(tmp_path / "root.pem", roots.roots_pem([p.root]))
    chain = write(tmp_path / "chain.pem", export.chain_pem(p.chain))
    leaf = write(tmp_path / "leaf.pem", export.cert_pem(p.leaf))
    out = ok(
        openssl(
            "verify", "-attime", ATTIME, "-CAfile", str(root), "-untrusted", str(chain), str(leaf)
        )
    )
    assert f"{leaf}: OK" in out
    # without the intermediate, openssl fails: the check is real
    proc = openssl("verify", "-attime", ATTIME, "-CAfile", str(root), str(leaf))
    assert proc.returncode != 0


@pytest.mark.parametrize(
    ("legacy", "needles"),
    [
        (False, ["PBES2, PBKDF2, AES-256-CBC", "MAC: sha256"]),
        (True, ["pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"]),
    ],
)
def test_openssl_reads_pkcs12(pki: Pki, tmp_path: Path, legacy: bool, needles: list[str]) -> None:
    data = export.pkcs12(
        "cas1", pki.leaf, pki.leaf_key, pki.chain, b"p@ss", legacy=legacy, include_root=True
    )
    path = write(tmp_path / "cas1.p12", data, private=True)
    assert path.stat().st_mode & 0o777 == 0o600
    args = ["pkcs12", "-info", "-noout", "-passin", "pass:p@ss", "-in", str(path)]
    out = ok(openssl(*args, *(["-legacy"] if legacy else [])))
    for needle in needles:
        assert needle in out
    wrong = openssl("pkcs12", "-noout", "-passin", "pass:nope", "-in", str(path), "-legacy")
    assert wrong.returncode != 0
    # and the key + certificates come back out, matching
    pem = ok(
        openssl(
            "pkcs12",
            "-nodes",
            "-passin",
            "pass:p@ss",
            "-in",
            str(path),
            *(["-legacy"] if legacy else []),
        )
    )
    assert pem.count("BEGIN CERTIFICATE") == 3


KEY_FORMS: list[tuple[export.KeyFormat, bytes | None]] = [
    ("pkcs8", None),
    ("pkcs1", None),
    ("pkcs8", b"pw"),
    ("pkcs1", b"pw"),
]


@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_pem_bundle_key_matches_certificate_per_openssl(
    pki: Pki, rsa_pki: Pki, tmp_path: Path, which: str
) -> None:
    p = pki if which == "ec" else rsa_pki
    for fmt, password in KEY_FORMS:
        data = export.pem_bundle(
            p.leaf,
            p.chain,
            p.leaf_key,
            include_root=False,
            key_format=fmt,
            key_password=password,
        )
        bundle = write(tmp_path / f"{fmt}-{bool(password)}.pem", data, private=True)
        pw = ["-passin", "pass:pw"] if password else []
        key_pub = ok(openssl("pkey", "-in", str(bundle), "-pubout", *pw)).strip()
        cert_pub = ok(openssl("x509", "-in", str(bundle), "-pubkey", "-noout")).strip()
        assert key_pub.startswith("-----BEGIN PUBLIC KEY-----")
        assert key_pub == cert_pub, (fmt, password)


def test_ccapki_reads_openssl_made_files(pki: Pki, rsa_pki: Pki, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.pem", export.cert_pem(rsa_pki.leaf))
    chain = write(tmp_path / "chain.pem", export.chain_pem(rsa_pki.chain, include_root=True))
    key = write(tmp_path / "plain.key", export.key_pem(rsa_pki.leaf_key), private=True)
    out = tmp_path / "openssl"
    out.mkdir()
    # legacy RC2-40 PKCS#12, as old Windows/Java export it
    ok(
        openssl(
            "pkcs12",
            "-export",
            "-legacy",
            "-in",
            str(leaf),
            "-inkey",
            str(key),
            "-certfile",
            str(chain),
            "-passout",
            "pass:old",
            "-out",
            str(out / "rc2.pfx"),
        )
    )
    # modern OpenSSL 3 default PKCS#12
    ok(
        openssl(
            "pkcs12",
            "-export",
            "-in",
            str(leaf),
            "-inkey",
            str(key),
            "-passout",
            "pass:old",
            "-out",
            str(out / "aes.p12"),
        )
    )
    # TRUSTED CERTIFICATE with trust settings
    ok(
        openssl(
            "x509",
            "-in",
            str(leaf),
            "-trustout",
            "-addtrust",
            "serverAuth",
            "-out",
            str(out / "trusted.pem"),
        )
    )
    # encrypted PKCS#8 (3DES) and encrypted traditional RSA key
    ok(
        openssl(
            "pkcs8",
            "-topk8",
            "-v2",
            "des3",
            "-in",
            str(key),
            "-passout",
            "pass:old",
            "-out",
            str(out / "p8.key"),
        )
    )
    ok(
        openssl(
            "rsa",
            "-aes256",
            "-traditional",
            "-in",
            str(key),
            "-passout",
            "pass:old",
            "-out",
            str(out / "trad.key"),
        )
    )
    ok(
        openssl(
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            str(chain),
            "-outform",
            "DER",
            "-out",
            str(out / "chain.p7b"),
        )
    )
    ok(
        openssl(
            "req",
            "-new",
            "-key",
            str(key),
            "-subj",
            "/CN=cam.example.org",
            "-outform",
            "DER",
            "-out",
            str(out / "cam.csr"),
        )
    )
    materials = {Path(m.source).name: m for m in parse_files([out], password=b"old")}
    fp = public_key_fingerprint(rsa_pki.leaf_key)
    assert materials["rc2.pfx"].key_kinds == (Kind.PKCS12,)
    assert public_key_fingerprint(materials["rc2.pfx"].keys[0]) == fp
    assert len(materials["rc2.pfx"].certificates) == 3
    assert materials["aes.p12"].certificates == (rsa_pki.leaf,)
    assert materials["trusted.pem"].certificates == (rsa_pki.leaf,)
    assert materials["trusted.pem"].certificate_kinds == (Kind.TRUSTED_CERTIFICATE,)
    assert materials["p8.key"].key_kinds == (Kind.PKCS8_ENCRYPTED,)
    assert materials["trad.key"].key_kinds == (Kind.TRADITIONAL_ENCRYPTED,)
    assert public_key_fingerprint(materials["trad.key"].keys[0]) == fp
    assert set(materials["chain.p7b"].certificates) == {rsa_pki.inter, rsa_pki.root}
    assert public_key_fingerprint(materials["cam.csr"].csrs[0].public_key()) == fp


def s_client(port: int, ca_file: Path, name: str) -> subprocess.CompletedProcess[bytes]:
    return openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        name,
        "-verify_hostname",
        name,
        "-verify_return_error",
        "-attime",
        ATTIME,
        "-CAfile",
        str(ca_file),
        "-brief",
        input=b"",
    )


@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_s_server_serves_exported_bundle(
    pki: Pki, rsa_pki: Pki, tmp_path: Path, which: str
) -> None:
    p = pki if which == "ec" else rsa_pki
    name = p.leaf.subject.rfc4514_string().removeprefix("CN=")
    data = export.pem_bundle(p.leaf, p.chain, p.leaf_key, include_root=False)
    bundle = write(tmp_path / "bundle.pem", data, private=True)
    root = write(tmp_path / "root.pem", roots.roots_pem([p.root]))
    with openssl_s_server(bundle) as port:
        text = ok(s_client(port, root, name))
    assert "Verification: OK" in text


def test_s_client_refuses_without_the_right_root(pki: Pki, tmp_path: Path) -> None:
    data = export.pem_bundle(pki.leaf, pki.chain, pki.leaf_key, include_root=False)
    bundle = write(tmp_path / "bundle.pem", data, private=True)
    unrelated = write(tmp_path / "other.pem", roots.roots_pem([make_pki(root_name="Other").root]))
    with openssl_s_server(bundle) as port:
        proc = s_client(port, unrelated, "cas1.example.org")
    assert proc.returncode != 0
    assert "verify error" in (proc.stdout + proc.stderr).decode()


def test_key_file_is_private(pki: Pki, tmp_path: Path) -> None:
    path = write(tmp_path / "k.pem", export.key_pem(pki.leaf_key), private=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert serialization.load_pem_private_key(path.read_bytes(), None)
