"""``check-ha`` and ``trust check`` on an HA pair whose one true self-signed certificate has
expired (audit, item 1): ``check-ha`` said "FAIL valid now (the IPsec heartbeat fails on an
expired certificate)" and "HA broken", while ``trust check`` warned only on the ha-heartbeat
cells: strongSwan takes a certificate it trusts directly as trusted without reading its
dates (docs/stacks.md, case self-signed-leaf-expired-trusted; tests/lab runs charon on it).
Both now ask the same stack model: the heartbeat comes up, and ``check-ha`` still fails
the row (exit 1), saying the clients refuse the expired certificate. A CA-signed expired
certificate still breaks the heartbeat in both.

Before 4.7 (audit, item 2) the summary of a merely expired certificate said "after a
failover clients meet another certificate": it now says what failed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kit.certs import NOW, mint, pem, sha256
from kit.cli import Cli, deployment, ha_pair, ok, write

#: every name the pair's certificate must carry (kit.cli.ha_pair on 10.2.0)
PAIR_NAMES = [
    "p1.example.org",
    "p1-a.example.org",
    "p1-b.example.org",
    "10.2.0.10",
    "10.2.0.11",
    "10.2.0.12",
]
PEERS = ("p1-a", "p1-b")


def _file(tmp_path: Path, release: str, source: str = "self-signed") -> Path:
    text = deployment(release=release, source=source, cas=[ha_pair("p1", "10.2.0")])
    return write(tmp_path / "d.toml", text)


def _expired_self_signed(tmp_path: Path) -> tuple[Path, x509.Certificate]:
    """A true self-signed certificate of the pair, all its names, expired 10 days ago; its
    key in the same PEM file (as a CCA appliance's own certificate taken off it)."""
    m = mint("p1.example.org", san=PAIR_NAMES, start=NOW - dt.timedelta(days=375), days=365)
    assert m.cert.not_valid_after_utc == NOW - dt.timedelta(days=10)
    key = m.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return write(tmp_path / "p1-own.pem", pem(m.cert) + key), m.cert


def _heartbeat_cells(doc: dict[str, Any]) -> dict[str, str]:
    return {
        c["appliance"]: c["status"]
        for c in doc["cells"]
        if c["channel"] == "ha-heartbeat" and c["appliance"] in PEERS
    }


def test_expired_certificate_each_peer_trusts_directly_keeps_the_heartbeat_up(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _file(tmp_path, "4.8.0")))
    ok(cli("import", _expired_self_signed(tmp_path)[0], "--force"))
    ok(cli("trust", "apply"))

    # trust check: the heartbeat cells warn (strongSwan accepts it), the clients fail
    doc = cli("trust", "check", "--json").json()
    assert _heartbeat_cells(doc) == {"p1-a": "warn", "p1-b": "warn"}, doc
    web = {c["appliance"]: c["status"] for c in doc["cells"] if c["channel"] == "web-login"}
    assert web == {"p1-a": "fail", "p1-b": "fail"}

    # check-ha: the same verdict on the heartbeat; the row fails for the clients
    r = cli("check-ha", "p1")
    assert r.code == 1, r.both
    assert "HA broken" not in r.out, r.out
    assert "the IPsec heartbeat fails on an expired certificate" not in r.out, r.out
    (row,) = [line for line in r.out.splitlines() if line.startswith("FAIL")]
    assert row.startswith("FAIL  valid now: "), row
    assert ", expired: the IPsec heartbeat still comes up (strongSwan does not read the " in row
    assert "but clients refuse it (agents, web login, admin GUI)" in row, row
    summary = next(line for line in r.out.splitlines() if line.startswith("p1: "))
    assert summary.startswith("p1: not fit for HA (valid now): the IPsec heartbeat still comes up")
    assert f"the pair's certificate expired on {NOW - dt.timedelta(days=10):%Y-%m-%d}" in summary
    assert "different certificates" not in summary, summary
    assert "`ccapki renew p1 --commit`" in summary, summary

    doc = cli("check-ha", "p1", "--json").json()
    assert (doc["ok"], doc["heartbeat_blocked_by"]) == (False, [])
    (failed,) = [c for c in doc["checks"] if not c["ok"]]
    assert (failed["item"], failed["peers"]) == ("valid now", ["primary", "secondary"])
    # one verdict on the heartbeat in both commands: it comes up
    assert set(_heartbeat_cells(cli("trust", "check", "--json").json()).values()) != {"fail"}


def test_without_the_certificate_in_a_peers_trust_store_the_expiry_breaks_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """strongSwan reads the dates of a certificate it does not trust directly: with the
    pair's certificate out of p1-b's trust store, both commands say the heartbeat fails."""
    ok(cli("apply", _file(tmp_path, "4.8.0")))
    own, cert = _expired_self_signed(tmp_path)
    ok(cli("import", own, "--force"))
    ok(cli("trust", "apply"))
    ok(cli("trust", "remove", "p1-b", sha256(cert)[:16]))
    assert set(_heartbeat_cells(cli("trust", "check", "--json").json()).values()) == {"fail"}
    r = cli("check-ha", "p1")
    assert r.code == 1, r.both
    assert "FAIL  valid now (the IPsec heartbeat fails on an expired certificate): " in r.out
    assert "p1: HA broken: the IPsec heartbeat will not come up" in r.out, r.out
    assert "still comes up" not in r.out, r.out


def test_a_ca_signed_expired_certificate_still_breaks_the_heartbeat_in_both(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    file = _file(tmp_path, "4.8.0", source="internal")
    ok(cli("apply", file))
    later = NOW + dt.timedelta(days=3650)  # past every certificate of the store
    doc = cli("trust", "check", "--json", now=later).json()
    assert _heartbeat_cells(doc) == {"p1-a": "fail", "p1-b": "fail"}, doc
    r = cli("check-ha", "p1", now=later)
    assert r.code == 1, r.both
    assert "FAIL  valid now (the IPsec heartbeat fails on an expired certificate): " in r.out
    assert "p1: HA broken: the IPsec heartbeat will not come up" in r.out, r.out
    assert "still comes up" not in r.out, r.out
    doc = cli("check-ha", "p1", "--json", now=later).json()
    assert doc["heartbeat_blocked_by"], doc


def test_before_4_7_an_expired_certificate_is_said_expired(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _file(tmp_path, "4.4.9")))
    fit = ok(cli("check-ha", "p1"))
    assert "p1: fit for HA" in fit.out, fit.out
    later = dt.datetime(2028, 1, 15, tzinfo=dt.UTC)
    r = cli("check-ha", "p1", now=later)
    assert r.code == 1, r.both
    summary = next(line for line in r.out.splitlines() if line.startswith("p1: "))
    assert "meet another certificate" not in summary, summary
    assert summary.startswith("p1: not fit for HA: the pair's certificate expired on "), summary
    assert "clients refuse it (agents, web login, admin GUI)" in summary, summary
    assert "heartbeat does not use the certificate, so it stays up" in summary, summary

    # two certificates on the peers: after a failover the clients meet the other one
    mine = tmp_path / "store.pem"
    ok(cli("export", "p1", "--format", "pem-bundle", "--out", mine))
    other = mint("p1.example.org", san=PAIR_NAMES)
    key = other.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    theirs = write(tmp_path / "other.pem", pem(other.cert) + key)
    r = cli("check-ha", "p1", "--primary", mine, "--secondary", theirs)
    assert r.code == 1, r.both
    summary = next(line for line in r.out.splitlines() if line.startswith("p1: "))
    assert "after a failover clients meet another certificate" in summary, summary
    assert "expired" not in summary, summary
