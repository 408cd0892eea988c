"""A third-party CAS certificate whose keyUsage lacks digitalSignature (keyAgreement only,
imported with --force). Offline, Chromium refuses it for web login and the admin GUI
(ERR_SSL_KEY_USAGE_INCOMPATIBLE: tests/lab/test_differential.py, docs/stacks.md) and JSSE for
the CAM/CAS link. The lab's browser-channel probes are OpenSSL handshakes, and OpenSSL's TLS
server purpose takes keyAgreement: the handshake passes. ``verify --live`` called the
difference "ccapki bug: offline (chromium) says ... fails, the live handshake
(openssl-default) passed" (exit 3), while ccapki's own model of that live stack
(``openssl-default``) accepts the certificate too: the refusal is Chromium's, no handshake
here can show it. It is now listed apart as such (JSON ``refusals``), the cell agrees and
the run exits 1 (``trust check`` still fails those cells); the JSSE cells, where the live
stack is the modelled one, fail live and offline alike.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from kit.certs import OutsideCA, pem, utcnow
from kit.cli import Cli, ok, write
from kit.lab import LabHome, stop_lab

DEP = """[deployment]
name = "kuonly"
release = "4.8.0"
organization = "Key Usage Test"
source = "internal"
key = "ecdsa-p256"

[cam]
name = "cam"
hostname = "cam.lab.test"
ip = "10.60.0.1"

[[cas]]
name = "cas-clinic"
hostname = "cas-clinic.lab.test"
ip = "10.61.0.10"
source = "third-party"
"""

CHROMIUM_CELLS = {("cas-clinic", "web-login"), ("cas-clinic", "admin-gui")}
JSSE_CELLS = {("cam", "cam-cas"), ("cas-clinic", "cam-cas")}


def _key_agreement_only(outside: OutsideCA, csr: x509.CertificateSigningRequest) -> bytes:
    """The CA's answer to ``csr``: keyUsage keyAgreement only (no digitalSignature)."""
    now = utcnow()
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ku = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(outside.inter.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(outside.inter_key.public_key()),
            critical=False,
        )
        .add_extension(ku, critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .sign(outside.inter_key, hashes.SHA256())
    )
    return pem(cert) + pem(outside.inter) + pem(outside.root)


def test_a_refusal_only_chromium_makes_is_not_a_ccapki_bug(cli: Cli, tmp_path: Path) -> None:
    home, dep = tmp_path / "home", write(tmp_path / "dep.toml", DEP)
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", dep, home_dir=home))
    ok(cli("csr", "cas-clinic", "--out", tmp_path, home_dir=home))
    csr = x509.load_pem_x509_csr((tmp_path / "cas-clinic.csr").read_bytes())
    bundle = write(tmp_path / "answer.pem", _key_agreement_only(OutsideCA.make(now=utcnow()), csr))
    ok(cli("import", bundle, "--force", home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    check = cli("trust", "check", "--json", home_dir=home)
    assert check.code == 1, check.both
    failing = {
        (c["appliance"], c["channel"]) for c in check.json()["cells"] if c["status"] == "fail"
    }
    assert failing == CHROMIUM_CELLS | JSSE_CELLS, failing

    lab = LabHome(home, dep)
    ok(cli("lab", "up", home_dir=home))
    try:
        code, doc = lab.verify(cli)
        text = cli("verify", "--live", home_dir=home)
    finally:
        stop_lab(cli, lab)
    assert [c for c in doc["cells"] if not c["agree"]] == [], doc["cells"]
    assert (code, doc["agree"], doc["ok"]) == (1, True, False), doc
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    for key in CHROMIUM_CELLS:
        c = cells[key]
        assert (c["live"], c["live_stack"], c["compared"]) == ("pass", "openssl-default", True), c
        assert any("digitalSignature" in r and "Chromium" in r for r in c["refusals"]), c
    for key in JSSE_CELLS:
        c = cells[key]
        assert (c["offline"], c["live"], c["refusals"]) == ("fail", "fail", []), c
    assert text.code == 1, text.both
    assert "ccapki bug" not in text.both, text.both
    assert "cas-clinic web-login:" in text.out, text.both
