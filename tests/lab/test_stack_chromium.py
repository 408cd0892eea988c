"""ccapki's Chromium verdict (``verify_for_stack(Stack.CHROMIUM, ...)``) against the real
headless Chromium, with the root in an NSS database as on a Linux admin's desktop.

Each case mints a root and a web-login certificate at test time, serves it from the lab's
web-login endpoint and asks Chromium to load the page. Where Chromium and web-PKI part
(a root without keyUsage), ccapki must predict Chromium, and still warn with web-PKI's view.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.lab import WEB_LOGIN_TITLE, EndpointMaterial
from ccapki.trust import Stack, verify_for_stack
from kit.lab import Deployment, LabThread, with_appliance
from kit.tools import require_tool

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store

HOST = "cas2.example.edu"
_PEM = serialization.Encoding.PEM


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


RootShape = Callable[[x509.CertificateBuilder, rsa.RSAPrivateKey], x509.CertificateBuilder]


def _plain(b: x509.CertificateBuilder, key: rsa.RSAPrivateKey) -> x509.CertificateBuilder:
    """What `openssl req -x509` makes: CA:TRUE (critical), SKI, AKI, no keyUsage."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        b.add_extension(ski, False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    )


def _ku_without_cert_sign(
    b: x509.CertificateBuilder, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    return _plain(b, key).add_extension(ku, True)


def _bc_not_critical_no_ski(
    b: x509.CertificateBuilder, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    return b.add_extension(x509.BasicConstraints(ca=True, path_length=None), False).add_extension(
        ku, True
    )


def _mint(shape: RootShape, *, san: bool) -> tuple[x509.Certificate, x509.Certificate, bytes]:
    now = dt.datetime.now(dt.UTC)
    root_key = rsa.generate_private_key(65537, 2048)
    root = shape(
        x509.CertificateBuilder()
        .subject_name(_name("Stack Test Root"))
        .issuer_name(_name("Stack Test Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365)),
        root_key,
    ).sign(root_key, hashes.SHA256())
    leaf_key = rsa.generate_private_key(65537, 2048)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
    leaf = b.sign(root_key, hashes.SHA256())
    key_pem = leaf_key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return root, leaf, key_pem


def _chromium_loads(tmp: Path, root: x509.Certificate, port: int) -> tuple[bool, str]:
    certutil, chromium = require_tool("certutil"), require_tool("chromium")
    home = tmp / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    root_pem = tmp / "root.pem"
    root_pem.write_bytes(root.public_bytes(_PEM))
    subprocess.run(
        [certutil, "-d", f"sql:{db}", "-N", "--empty-password"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    subprocess.run(
        [certutil, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "root", "-i", str(root_pem)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    res = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}",
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            "--dump-dom",
            f"https://{HOST}:{port}/",
        ],
        capture_output=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
        check=False,
    )
    dom = res.stdout.decode(errors="replace")
    return f"<title>{WEB_LOGIN_TITLE}</title>" in dom, res.stderr.decode(errors="replace")


@pytest.mark.parametrize(
    ("shape", "san", "web_pki"),
    [
        pytest.param(_plain, True, False, id="root-without-keyUsage"),
        pytest.param(_ku_without_cert_sign, True, False, id="root-keyUsage-without-keyCertSign"),
        pytest.param(_bc_not_critical_no_ski, True, False, id="root-bc-not-critical-no-ski"),
        pytest.param(_plain, False, False, id="leaf-cn-only"),
    ],
)
def test_ccapki_predicts_chromium(
    deployment: Deployment, tmp_path: Path, shape: RootShape, san: bool, web_pki: bool
) -> None:
    root, leaf, key_pem = _mint(shape, san=san)
    predicted = verify_for_stack(Stack.CHROMIUM, leaf, [], [root], peer_name=HOST)
    web = verify_for_stack(Stack.WEBPKI, leaf, [], [root], peer_name=HOST)
    assert web.ok is web_pki
    material = EndpointMaterial(leaf.public_bytes(_PEM), key_pem, root.public_bytes(_PEM))
    spec = with_appliance(deployment.spec(jsse=False), "cas2", identity=material)
    with LabThread(spec) as lab:
        port = next(
            e.port for e in lab.status().endpoints if (e.appliance, e.kind) == ("cas2", "web-login")
        )
        loaded, err = _chromium_loads(tmp_path, root, port)
    assert predicted.ok is loaded, (predicted, err[-1500:])
    if loaded:  # web-PKI's refusal stays visible as a warning
        assert any(w.reason.startswith("web-PKI refuses") for w in predicted.warnings)
    else:
        assert "ERR_CERT_" in err
