"""Issue 3, point 3: ``export`` in every format, proven with cryptography and real openssl."""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.pki.keys import public_key_fingerprint
from kit.certs import OutsideCA, pem
from kit.cli import CliRunner, ok, standalone
from kit.tools import openssl, openssl_s_server, require_tool

from .conftest import deployment, open_store

NAME = "cas-web.example.org"
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


@dataclass
class Exported:
    home: Path
    out: Path
    leaf: x509.Certificate
    inter: x509.Certificate
    root: x509.Certificate
    spki: str

    def path(self, name: str) -> Path:
        return self.out / name


@pytest.fixture
def exp(cli: CliRunner, deployed: Callable[[str], Path], home: Path, tmp_path: Path) -> Exported:
    """An internal-PKI deployment: cas-web (ECDSA) and cas-rsa (RSA), chain leaf -> CA -> root."""
    deployed(
        deployment(
            cas=[
                standalone("cas-web", "10.6.0.1"),
                standalone("cas-rsa", "10.6.0.2", key="rsa-2048"),
            ]
        )
    )
    with open_store(home) as store:
        ident = store.identities.get("cas-web")
    assert ident is not None
    inter, root = ident.chain
    out = tmp_path / "out"
    out.mkdir()  # export --out never makes folders (export-roots --out does)
    return Exported(home, out, ident.certificate, inter, root, ident.spki)


def blocks(path: Path) -> list[str]:
    return [m.decode() for m in _BLOCK.findall(path.read_bytes())]


def certs_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def export(cli: CliRunner, e: Exported, name: str, *args: str, identity: str = "cas-web") -> Path:
    path = e.path(name)
    r = ok(cli("export", identity, "--out", path, *args))
    assert str(path) in r.out
    return path


def key_exports(home: Path) -> list[dict[str, Any]]:
    with open_store(home) as store:
        return [a for a in store.audit.log(limit=1000) if a.action == "key-export"]


# ---------------------------------------------------------------------------- formats


def test_pem_bundle_cert_then_chain_then_key(cli: CliRunner, exp: Exported) -> None:
    path = export(cli, exp, "bundle.pem", "--format", "pem-bundle")
    assert blocks(path) == ["CERTIFICATE", "CERTIFICATE", "PRIVATE KEY"]
    assert certs_in(path) == [exp.leaf, exp.inter]
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert public_key_fingerprint(key) == exp.spki
    assert mode(path) == 0o600

    with_root = export(cli, exp, "bundle-root.pem", "--include-root")
    assert blocks(with_root) == ["CERTIFICATE"] * 3 + ["PRIVATE KEY"]
    assert certs_in(with_root) == [exp.leaf, exp.inter, exp.root]


@pytest.mark.integration
def test_pem_bundle_pkcs1_and_encrypted_keys(cli: CliRunner, exp: Exported) -> None:
    rsa1 = export(cli, exp, "rsa1.pem", "--key-format", "pkcs1", identity="cas-rsa")
    assert blocks(rsa1)[-1] == "RSA PRIVATE KEY"
    rsa8 = export(cli, exp, "rsa8.pem", "--key-format", "pkcs8", identity="cas-rsa")
    assert blocks(rsa8)[-1] == "PRIVATE KEY"
    ec1 = export(cli, exp, "ec1.pem", "--key-format", "pkcs1")
    assert blocks(ec1)[-1] == "EC PRIVATE KEY"  # SEC1, the EC form of "traditional"

    enc = export(cli, exp, "enc.pem", "--encrypt-key", "--password", "bundle-pw")
    assert blocks(enc) == ["CERTIFICATE", "CERTIFICATE", "ENCRYPTED PRIVATE KEY"]
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(enc.read_bytes(), None)
    key = serialization.load_pem_private_key(enc.read_bytes(), b"bundle-pw")
    assert public_key_fingerprint(key) == exp.spki
    r = openssl("pkey", "-in", str(enc), "-passin", "pass:bundle-pw", "-noout")
    assert r.returncode == 0, r.stderr
    for p in (rsa1, rsa8, ec1, enc):
        assert mode(p) == 0o600


def test_separate_pem_files_and_der(cli: CliRunner, exp: Exported) -> None:
    cert = export(cli, exp, "cert.pem", "--format", "cert")
    assert certs_in(cert) == [exp.leaf]
    chain = export(cli, exp, "chain.pem", "--format", "chain")
    assert certs_in(chain) == [exp.inter]
    chain_root = export(cli, exp, "chain-root.pem", "--format", "chain", "--include-root")
    assert certs_in(chain_root) == [exp.inter, exp.root]
    full = export(cli, exp, "full.pem", "--format", "fullchain")
    assert certs_in(full) == [exp.leaf, exp.inter]
    der = export(cli, exp, "cert.der", "--format", "der")
    assert x509.load_der_x509_certificate(der.read_bytes()) == exp.leaf
    key = export(cli, exp, "key.pem", "--format", "key")
    assert blocks(key) == ["PRIVATE KEY"]
    assert public_key_fingerprint(serialization.load_pem_private_key(key.read_bytes(), None)) == (
        exp.spki
    )
    assert mode(key) == 0o600
    for p in (cert, chain, full, der):
        assert b"PRIVATE KEY" not in p.read_bytes()
    # only the key-holding export was logged
    logged = key_exports(exp.home)
    assert [(a.subject, a.detail["format"]) for a in logged] == [("cas-web", "key")]
    assert logged[0].detail["path"] == str(key.resolve())


@pytest.mark.integration
@pytest.mark.parametrize("legacy", [False, True], ids=["aes", "legacy"])
def test_pkcs12(cli: CliRunner, exp: Exported, legacy: bool) -> None:
    args = ["--format", "pkcs12", "--password", "p12-pw-123", *(["--legacy"] if legacy else [])]
    path = export(cli, exp, "id.p12", *args)
    assert mode(path) == 0o600
    p12 = pkcs12.load_pkcs12(path.read_bytes(), b"p12-pw-123")
    assert p12.cert is not None
    assert p12.cert.certificate == exp.leaf
    assert p12.key is not None
    assert public_key_fingerprint(p12.key) == exp.spki
    assert exp.inter in [c.certificate for c in p12.additional_certs]
    r = openssl(
        "pkcs12",
        "-info",
        "-noout",
        "-passin",
        "pass:p12-pw-123",
        "-in",
        str(path),
        *(["-legacy"] if legacy else []),
    )
    assert r.returncode == 0, r.stderr
    info = r.stdout + r.stderr
    if legacy:
        assert "3-KeyTripleDES" in info or "RC2" in info
        assert "AES" not in info
    else:
        assert "AES-256" in info
    bad = openssl("pkcs12", "-info", "-noout", "-passin", "pass:wrong", "-in", str(path))
    assert bad.returncode != 0
    logged = key_exports(exp.home)
    assert logged[0].detail["format"] == "pkcs12"
    assert logged[0].detail["encrypted"] is True


def test_encrypt_key_without_password_is_refused(
    cli: CliRunner, exp: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --password, no CCAPKI_EXPORT_PASSWORD, no terminal: never a plaintext key instead."""
    r = cli("export", "cas-web", "--encrypt-key", "--out", exp.path("e.pem"))
    assert r.code == 2, r.both
    assert "--encrypt-key needs a password" in r.err
    assert not exp.path("e.pem").exists()
    assert key_exports(exp.home) == []
    monkeypatch.setenv("CCAPKI_EXPORT_PASSWORD", "from-env")
    path = export(cli, exp, "e.pem", "--encrypt-key", "--format", "key")
    assert blocks(path) == ["ENCRYPTED PRIVATE KEY"]
    serialization.load_pem_private_key(path.read_bytes(), b"from-env")
    assert key_exports(exp.home)[0].detail["encrypted"] is True


def test_pkcs12_without_password_is_refused(cli: CliRunner, exp: Exported) -> None:
    r = cli("export", "cas-web", "--format", "pkcs12", "--out", exp.path("x.p12"))
    assert r.code == 2
    assert "password" in r.err
    assert not exp.path("x.p12").exists()
    assert key_exports(exp.home) == []


def test_every_key_export_is_audited(cli: CliRunner, exp: Exported) -> None:
    export(cli, exp, "a.pem")
    export(cli, exp, "b.pem", "--format", "cert")
    export(cli, exp, "c.key", "--format", "key", identity="cas-rsa")
    export(cli, exp, "d.p12", "--format", "pkcs12", "--password", "x-123456")
    logged = key_exports(exp.home)
    assert sorted((a.subject, a.detail["format"]) for a in logged) == [
        ("cas-rsa", "key"),
        ("cas-web", "pem-bundle"),
        ("cas-web", "pkcs12"),
    ]
    for a in logged:
        assert "PRIVATE" not in str(a)


# ---------------------------------------------------------------------------- openssl interop


@pytest.fixture
def roots_pem(cli: CliRunner, exp: Exported) -> Path:
    ok(cli("export-roots", "--out", exp.path("roots")))
    path = exp.path("roots") / "ccapki-roots.pem"
    assert certs_in(path) == [exp.root]
    return path


@pytest.mark.integration
def test_openssl_verify_and_key_match(cli: CliRunner, exp: Exported, roots_pem: Path) -> None:
    cert = export(cli, exp, "cert.pem", "--format", "cert")
    chain = export(cli, exp, "chain.pem", "--format", "chain")
    r = openssl("verify", "-CAfile", str(roots_pem), "-untrusted", str(chain), str(cert))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{cert}: OK" in r.stdout
    # without the intermediate openssl cannot build the chain: the check is not vacuous
    r = openssl("verify", "-CAfile", str(roots_pem), str(cert))
    assert r.returncode != 0

    bundle = export(cli, exp, "bundle.pem")
    key_pub = openssl("pkey", "-in", str(bundle), "-pubout")
    cert_pub = openssl("x509", "-in", str(bundle), "-pubkey", "-noout")
    assert key_pub.returncode == 0, key_pub.stderr
    assert cert_pub.returncode == 0, cert_pub.stderr
    assert "BEGIN PUBLIC KEY" in key_pub.stdout
    assert key_pub.stdout == cert_pub.stdout
    other = openssl("x509", "-in", str(roots_pem), "-pubkey", "-noout")
    assert other.stdout != key_pub.stdout


def s_client(port: int, ca_file: Path, name: str) -> subprocess.CompletedProcess[str]:
    exe = require_tool("openssl")
    return subprocess.run(
        [
            exe,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-verify_return_error",
            "-CAfile",
            str(ca_file),
            "-servername",
            name,
            "-verify_hostname",
            name,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.integration
def test_s_server_serves_the_bundle_to_s_client(
    cli: CliRunner, exp: Exported, roots_pem: Path, outside: OutsideCA
) -> None:
    bundle = export(cli, exp, "upload.pem")
    with openssl_s_server(bundle) as port:
        r = s_client(port, roots_pem, NAME)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Verify return code: 0 (ok)" in r.stdout
        assert f"Verified peername: {NAME}" in r.stdout
        # the same handshake against a root that did not sign it fails
        wrong = exp.path("wrong-root.pem")
        wrong.write_bytes(pem(outside.root))
        r = s_client(port, wrong, NAME)
        assert r.returncode != 0
        assert "unable to get local issuer certificate" in r.stdout + r.stderr
