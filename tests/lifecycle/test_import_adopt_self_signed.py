"""Adopting an estate: an appliance's own true self-signed certificate (CCA 4.7+), as the
appliance exports it, is imported as that identity's certificate, not kept as an outside CA.

CCA 4.7+ makes a TRUE self-signed certificate (the FAQ: "the Identity certificate ... is the
root certificate also"), which tools such as ``openssl req -x509`` mark CA:TRUE. Exported as
PKCS#12 with its key, importing it used to be refused ("is the private key of the CA
certificate ..., not of an appliance's identity"); exported without its key, it was kept as a
CA of no chain and the identity left as it was, exit 0.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kit.certs import NOW
from kit.cli import CliRunner, ok, standalone, write

from .conftest import deployment, open_store

DEP = deployment(source="self-signed", key="rsa-2048", cas=[standalone("cas-old", "10.6.0.1")])


def appliance_cert(host: str, ip: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A CCA 4.7+ style true self-signed certificate: CN=host, CA:TRUE, issued a year ago."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Clean Access"),
            x509.NameAttribute(NameOID.COMMON_NAME, host),
        ]
    )
    sans = [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(ip))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=365))
        .not_valid_after(NOW + dt.timedelta(days=4 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_appliance_pkcs12_is_adopted_as_the_identity(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path, home: Path
) -> None:
    deployed(DEP)
    key, cert = appliance_cert("cas-old.example.org", "10.6.0.1")
    p12 = write(
        tmp_path / "cas-old.p12",
        pkcs12.serialize_key_and_certificates(
            b"cas-old", key, cert, None, serialization.BestAvailableEncryption(b"appl-pw")
        ),
    )
    r = ok(cli("import", p12, "--password", "appl-pw"))
    assert "imported cas-old v2" in r.out, r.both
    assert "kept CA" not in r.out, r.both
    # taken from the appliance that serves it: nothing to install there
    assert "next: install it on" not in r.out, r.both
    assert "the appliance it came from presents it already" in r.out, r.both
    with open_store(home) as store:
        current = store.identities.get("cas-old")
        assert current is not None
        assert current.certificate == cert  # the appliance's own, adopted as it is


def test_appliance_cert_without_key_is_not_kept_as_a_ca(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(DEP)
    _, cert = appliance_cert("cas-old.example.org", "10.6.0.1")
    crt = write(tmp_path / "cas-old.crt", cert.public_bytes(serialization.Encoding.PEM))
    r = cli("import", crt)
    assert r.code == 2, r.both
    assert "kept CA" not in r.out, r.both
    assert r.err.startswith("error: private key not found"), r.both
    assert "cas-old's own self-signed certificate" in r.err, r.both
    hint = r.err.split("hint: ", 1)[1]  # what ccapki can do for it: no CSR to an outside CA
    assert "PKCS#12" in hint, r.both
    assert "`ccapki apply FILE`" in hint, r.both
    assert "ccapki csr" not in hint, r.both


def test_self_signed_identity_lacking_names_hint_names_apply(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    """An appliance's own certificate lacking a name of the plan (its IP): refused, and the
    hint names what ccapki does for a self-signed identity (`ccapki apply`), not a CSR."""
    deployed(DEP)
    key, cert = appliance_cert("cas-old.example.org", "10.9.9.9")
    p12 = write(
        tmp_path / "cas-old.p12",
        pkcs12.serialize_key_and_certificates(
            b"cas-old", key, cert, None, serialization.BestAvailableEncryption(b"appl-pw")
        ),
    )
    r = cli("import", p12, "--password", "appl-pw")
    assert r.code == 2, r.both
    assert "names missing from the SANs: 10.6.0.1" in r.err, r.both
    hint = r.err.split("hint: ", 1)[1]
    assert "`ccapki apply FILE`" in hint, r.both
    assert "ccapki csr" not in hint, r.both


def _p12(tmp_path: Path, host: str, ip: str, password: bytes) -> tuple[Path, x509.Certificate]:
    key, cert = appliance_cert(host, ip)
    path = write(
        tmp_path / f"{host}.p12",
        pkcs12.serialize_key_and_certificates(
            b"appliance", key, cert, None, serialization.BestAvailableEncryption(password)
        ),
    )
    return path, cert


def test_adopt_before_first_apply_with_file(cli: CliRunner, tmp_path: Path, home: Path) -> None:
    """Adopting: `import --file FILE` before any apply takes the appliance's certificate and
    keeps FILE as applied; `apply FILE` then keeps it (issues only the rest); importing it
    again is "already held", not a new version."""
    path = write(tmp_path / "deployment.toml", DEP)
    ok(cli("init"))
    p12, cert = _p12(tmp_path, "cas-old.example.org", "10.6.0.1", b"appl-pw")
    r = cli("import", p12, "--password", "appl-pw")  # no deployment: the hint names --file
    assert r.code == 2, r.both
    assert "`ccapki import --file FILE" in r.err, r.both
    r = cli("import", "--file", path, p12, "--password", "wrong")  # nothing half-written
    assert r.code == 2, r.both
    assert "no deployment yet" in ok(cli("deployments")).out
    r = ok(cli("import", "--file", path, p12, "--password", "appl-pw"))
    assert "imported cas-old v1" in r.out, r.both
    r = ok(cli("apply", path))
    assert "issued cas-old" not in r.out, r.both
    with open_store(home) as store:
        current = store.identities.get("cas-old")
        assert current is not None
        assert current.certificate == cert  # kept, not reissued
        assert current.version == 1
    r = ok(cli("import", p12, "--password", "appl-pw"))
    assert "already held: cas-old v1" in r.out, r.both
