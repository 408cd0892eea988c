"""Two certificates sharing one private key, for two identities, in one import batch: a
clean refusal naming both, nothing written (walkthrough Z fixes: exit 70, the keys table's
UNIQUE constraint, even for `import --file a.toml cas1.p12 cas2.p12`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kit.cli import Cli, db_bytes, deployment, error_with_hint, standalone, write

NOW = dt.datetime.now(dt.UTC)


def _self_signed(key: ec.EllipticCurvePrivateKey, host: str, ip: str) -> x509.Certificate:
    import ipaddress

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=300))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(ip))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def test_one_key_for_two_identities_in_one_batch_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    cas = [standalone("cas1", "10.7.0.2"), standalone("cas2", "10.7.0.3")]
    d = write(tmp_path / "a.toml", deployment(source="self-signed", cas=cas))
    key = ec.generate_private_key(ec.SECP256R1())
    files = []
    for name, ip in (("cas1", "10.7.0.2"), ("cas2", "10.7.0.3")):
        host = f"{name}.example.org"
        cert = _self_signed(key, host, ip)
        p12 = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, None, serialization.BestAvailableEncryption(b"cisco123")
        )
        files.append(write(tmp_path / f"{name}.p12", p12))
    before = db_bytes(keyfile_store)
    r = error_with_hint(cli("import", "--file", str(d), *map(str, files), "--password", "cisco123"))
    assert "same private key" in r.err, r.err
    assert "for cas2" in r.err, r.err
    assert "for cas1" in r.err, r.err
    assert "Traceback" not in r.both
    assert db_bytes(keyfile_store) == before  # nothing written
