"""Issue 8, item 7: ``check-ha`` checks both peers (names, validity, key usage), not only the
primary: a secondary holding another pair's certificate, an expired or an unfit one fails the
row that names it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.pki.keys import KeyType, generate_key
from kit.certs import NOW, OutsideCA
from kit.cli import CliRunner, ha_pair, ok, write

from .conftest import deployment

TWO_PAIRS = deployment(cas=[ha_pair("cas-ha", "10.5.0"), ha_pair("cas-ha2", "10.7.0")])

NAMES = "names the Service IP, virtual hostname and both peers"
VALID = "valid now (the IPsec heartbeat fails on an expired certificate)"
USAGE = "key usage fit for the heartbeat (digitalSignature, serverAuth + clientAuth)"


@pytest.fixture
def pairs(cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path) -> Path:
    deployed(TWO_PAIRS)
    out = tmp_path / "ha"
    out.mkdir()
    return out


def _check(cli: CliRunner, primary: Path, secondary: Path) -> tuple[Any, dict[str, Any]]:
    args = ("check-ha", "cas-ha", "--primary", primary, "--secondary", secondary)
    text = cli(*args, "--password", "pw-12345")
    js = cli(*args, "--password", "pw-12345", "--json").json()
    return text, {c["item"]: c for c in js["checks"]}


def _p12(path: Path, key: Any, cert: x509.Certificate) -> Path:
    data = pkcs12.serialize_key_and_certificates(
        b"peer", key, cert, None, serialization.BestAvailableEncryption(b"pw-12345")
    )
    return write(path, data)


def test_secondary_holding_another_pairs_certificate_fails_the_names(
    cli: CliRunner, pairs: Path
) -> None:
    primary = pairs / "cas-ha.p12"
    other = pairs / "cas-ha2.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", primary, "--password", "pw-12345"))
    ok(cli("export", "cas-ha2", "--for-peer", "--out", other, "--password", "pw-12345"))

    r, checks = _check(cli, primary, other)
    assert r.code == 1, r.both
    assert "HA broken" in r.out
    assert f"FAIL  {NAMES}" in r.out
    assert "all present" not in r.out
    names = checks[NAMES]
    assert names["ok"] is False
    assert names["peers"] == ["secondary"]
    # what the secondary lacks, and whose certificate it holds
    for missing in ("cas-ha.example.org", "cas-ha-a.example.org", "cas-ha-b.example.org"):
        assert missing in names["detail"]
    assert "10.5.0.10" in names["detail"]
    assert "cas-ha2" in names["detail"]
    # validity and key usage hold for both: those rows pass
    assert checks[VALID]["ok"] is True
    assert checks[USAGE]["ok"] is True

    # the other way round: the primary is the odd one out
    r, checks = _check(cli, other, primary)
    assert r.code == 1
    assert checks[NAMES]["ok"] is False
    assert checks[NAMES]["peers"] == ["primary"]

    # the same bundle on both: every row passes, "all present" on both peers
    r, checks = _check(cli, primary, primary)
    assert r.code == 0, r.both
    assert checks[NAMES]["ok"] is True
    assert checks[NAMES]["peers"] == []


def _own_certificate(outside: OutsideCA, cli: CliRunner, **kw: Any) -> tuple[Any, x509.Certificate]:
    """A certificate with the pair's own names, signed by an outside CA, made as ``kw`` says."""
    plan = ok(cli("plan", "--json")).json()
    spec = next(i for i in plan["identities"] if i["name"] == "cas-ha")
    key = generate_key(KeyType.ECDSA_P256)
    cert = outside.sign(
        x509.Name.from_rfc4514_string(f"CN={spec['common_name']}"),
        key.public_key(),
        dns=spec["san_dns"],
        ips=spec["san_ip"],
        **kw,
    )
    return key, cert


def test_expired_secondary_fails_validity(cli: CliRunner, pairs: Path, outside: OutsideCA) -> None:
    primary = pairs / "cas-ha.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", primary, "--password", "pw-12345"))
    key, cert = _own_certificate(outside, cli, not_before=NOW - dt.timedelta(days=400), days=365)
    secondary = _p12(pairs / "expired.p12", key, cert)

    r, checks = _check(cli, primary, secondary)
    assert r.code == 1, r.both
    assert f"FAIL  {VALID}" in r.out
    assert checks[VALID]["peers"] == ["secondary"]
    assert "expired" in checks[VALID]["detail"]
    # the names are the pair's own: that row passes on both peers
    assert checks[NAMES]["ok"] is True
    # expiry is not repeated as a key-usage problem
    assert checks[USAGE]["ok"] is True


def test_secondary_without_server_auth_fails_key_usage(
    cli: CliRunner, pairs: Path, outside: OutsideCA
) -> None:
    primary = pairs / "cas-ha.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", primary, "--password", "pw-12345"))
    key, cert = _own_certificate(outside, cli, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    secondary = _p12(pairs / "no-server-auth.p12", key, cert)

    r, checks = _check(cli, primary, secondary)
    assert r.code == 1, r.both
    assert f"FAIL  {USAGE}" in r.out
    assert checks[USAGE]["peers"] == ["secondary"]
    assert "secondary" in checks[USAGE]["detail"]
    assert "serverAuth" in checks[USAGE]["detail"]
    assert checks[NAMES]["ok"] is True
    assert checks[VALID]["ok"] is True
