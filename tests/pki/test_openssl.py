"""Item 7, checked by a tool no one here wrote: the real ``openssl`` command verifies the
chains ``apply`` issued and shows their extensions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.store import Store, StoredIdentity
from kit.certs import NOW
from kit.cli import CliRunner, deployment, ha_pair, standalone, write
from kit.tools import epoch, openssl

pytestmark = pytest.mark.integration

AT = epoch(NOW + dt.timedelta(days=1))  # verify at the fixed clock, whatever today is


@pytest.fixture
def issued(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> dict[str, StoredIdentity]:
    text = deployment(
        cas=[
            ha_pair("cas1", "10.1.0", source="self-signed"),
            standalone("cas2", "10.2.0.1", source="perfigo"),
            ha_pair("cas4", "10.4.0", key="rsa-2048"),
        ]
    )
    assert cli("apply", str(write(tmp_path / "d.toml", text))).code == 0
    with Store.open(keyfile_store) as store:
        return store.identities.current()


def _pem(path: Path, *certs: x509.Certificate) -> str:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return str(path)


@pytest.mark.parametrize("name", ["cam", "cas4"])
def test_openssl_verifies_the_internal_chain(
    issued: dict[str, StoredIdentity], tmp_path: Path, name: str
) -> None:
    ident = issued[name]
    inter, root = ident.chain
    leaf = _pem(tmp_path / "leaf.pem", ident.certificate)
    ca = _pem(tmp_path / "root.pem", root)
    untrusted = _pem(tmp_path / "intermediate.pem", inter)
    for purpose in ("sslserver", "sslclient"):
        r = openssl(
            "verify", "-attime", AT, "-purpose", purpose,
            "-CAfile", ca, "-untrusted", untrusted, leaf,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == f"{leaf}: OK"
    # without the intermediate the chain cannot be built: the check is real
    r = openssl("verify", "-attime", AT, "-CAfile", ca, leaf)
    assert r.returncode != 0
    assert "unable to get local issuer certificate" in r.stdout + r.stderr
    # and after expiry openssl refuses it
    late = epoch(ident.certificate.not_valid_after_utc + dt.timedelta(days=1))
    r = openssl("verify", "-attime", late, "-CAfile", ca, "-untrusted", untrusted, leaf)
    assert r.returncode != 0
    assert "certificate has expired" in r.stdout + r.stderr


def test_openssl_shows_sans_and_extensions(
    issued: dict[str, StoredIdentity], tmp_path: Path
) -> None:
    ident = issued["cas4"]
    inter, root = ident.chain
    leaf_text = openssl(
        "x509", "-in", _pem(tmp_path / "leaf.pem", ident.certificate), "-text", "-noout"
    )
    assert leaf_text.returncode == 0
    out = leaf_text.stdout
    for dns in ("cas4.example.org", "cas4-a.example.org", "cas4-b.example.org"):
        assert f"DNS:{dns}" in out
    for ip in ("10.4.0.10", "10.4.0.11", "10.4.0.12"):
        assert f"IP Address:{ip}" in out
    assert "CA:FALSE" in out
    assert "X509v3 Basic Constraints: critical" in out
    assert "X509v3 Key Usage: critical" in out
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in out
    assert "Public-Key: (2048 bit)" in out
    assert "X509v3 Subject Key Identifier" in out
    assert "X509v3 Authority Key Identifier" in out
    assert "Subject: O = Test Org, CN = cas4.example.org" in out
    root_text = openssl("x509", "-in", _pem(tmp_path / "root.pem", root), "-text", "-noout").stdout
    assert "CA:TRUE, pathlen:1" in root_text
    assert "Certificate Sign, CRL Sign" in root_text
    inter_text = openssl("x509", "-in", _pem(tmp_path / "i.pem", inter), "-text", "-noout").stdout
    assert "CA:TRUE, pathlen:0" in inter_text


def test_openssl_verifies_perfigo_and_self_signed(
    issued: dict[str, StoredIdentity], tmp_path: Path
) -> None:
    perfigo = issued["cas2"]
    (root,) = perfigo.chain
    leaf = _pem(tmp_path / "perfigo-leaf.pem", perfigo.certificate)
    r = openssl("verify", "-attime", AT, "-CAfile", _pem(tmp_path / "perfigo.pem", root), leaf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"{leaf}: OK"
    issuer = openssl("x509", "-in", leaf, "-noout", "-issuer").stdout
    assert "Perfigo" in issuer

    own = issued["cas1"]
    self_pem = _pem(tmp_path / "self.pem", own.certificate)
    r = openssl("verify", "-attime", AT, "-CAfile", self_pem, self_pem)
    assert r.returncode == 0, r.stdout + r.stderr
    # a true self-signed certificate is trusted only where it is installed
    r = openssl("verify", "-attime", AT, "-CAfile", _pem(tmp_path / "p.pem", root), self_pem)
    assert r.returncode != 0
    assert "self-signed certificate" in r.stdout + r.stderr
    text = openssl("x509", "-in", self_pem, "-noout", "-text").stdout
    assert "CA:FALSE" in text
    subject = openssl("x509", "-in", self_pem, "-noout", "-subject", "-nameopt", "compat").stdout
    issuer = openssl("x509", "-in", self_pem, "-noout", "-issuer", "-nameopt", "compat").stdout
    assert subject.split("=", 1)[1] == issuer.split("=", 1)[1]
