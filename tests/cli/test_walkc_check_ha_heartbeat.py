"""Walkthrough C: ``check-ha``'s verdict on the IPsec heartbeat must be strongSwan's.

Two findings. (1) Mid-renewal (the primary already on v2, the secondary still on v1, both
from the deployment's CA, one subject DN) ``check-ha`` said "HA broken: the IPsec heartbeat
will not come up", while two charon daemons holding exactly those bundles and trust stores
establish IKE_AUTH both ways: the pair is not fit (two certificates), the heartbeat is up.
(2) With the secondary's trust store emptied, ``check-ha`` said "fit for HA" (exit 0) while
``trust check`` and strongSwan both fail the heartbeat: it now checks each peer's trust
store against the other's chain, as strongSwan does.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.lab.ipsec import CHARON, IpsecPeer, heartbeat_both_ways, ipsec_unavailable
from kit.cli import FAQ, Cli, Result, ok
from kit.tools import need, require_tool

PW = "pw-walkc-1234"
PAIR = "cas-dorm"


def _renewed_pair(cli: Cli, tmp_path: Path) -> tuple[Path, Path]:
    """The pair's v1 bundle (still on the secondary) and v2 bundle (on the primary)."""
    ok(cli("apply", FAQ))
    v1, v2 = tmp_path / "v1.p12", tmp_path / "v2.p12"
    ok(cli("export", PAIR, "--for-peer", "--out", v1, "--password", PW))
    ok(cli("renew", f"{PAIR}-b", "--commit", "--out", tmp_path))
    ok(cli("export", PAIR, "--for-peer", "--out", v2, "--password", PW))
    assert v1.read_bytes() != v2.read_bytes()
    return v1, v2


def _check(cli: Cli, primary: Path, secondary: Path, *extra: str) -> Result:
    return cli(
        "check-ha", PAIR, "--primary", primary, "--secondary", secondary, "--password", PW, *extra
    )


def test_a_renewal_installed_on_one_peer_is_not_fit_but_the_heartbeat_comes_up(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    v1, v2 = _renewed_pair(cli, tmp_path)
    r = _check(cli, v2, v1)
    assert r.code == 1, r.both
    out = r.out
    assert "FAIL  same certificate on both peers" in out
    assert "will not come up" not in out
    assert "HA broken" not in out
    assert f"{PAIR}: not fit for HA" in out
    assert "the IPsec heartbeat still comes up" in out
    assert f"ccapki export {PAIR} --for-peer" in out
    doc = _check(cli, v2, v1, "--json").json()
    assert (doc["ok"], doc["heartbeat_blocked_by"]) == (False, [])


def test_a_secondary_trusting_nothing_is_ha_broken_not_fit(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    assert ok(cli("check-ha", PAIR)).out.count("fit for HA") == 1
    fp = ok(cli("trust", "list", f"{PAIR}-b", "--json")).json()[0]["fingerprint"]
    ok(cli("trust", "remove", f"{PAIR}-b", fp[:16]))
    cells = ok_or_findings(cli("trust", "check", "--json")).json()["cells"]
    assert {
        c["status"]
        for c in cells
        if c["channel"] == "ha-heartbeat" and c["appliance"] == f"{PAIR}-a"
    } == {"fail"}
    r = cli("check-ha", PAIR)
    assert r.code == 1, r.both
    assert "fit for HA" not in r.out.replace("not fit for HA", "")
    assert f"{PAIR}: HA broken: the IPsec heartbeat will not come up" in r.out
    line = next(ln for ln in r.out.splitlines() if ln.startswith("FAIL  heartbeat (IKEv2)"))
    assert f"secondary {PAIR}-b's trust store is empty" in line
    assert "`ccapki trust plan`" in line
    doc = cli("check-ha", PAIR, "--json").json()
    assert doc["ok"] is False
    assert len(doc["heartbeat_blocked_by"]) == 1
    assert all(c["ok"] for c in doc["checks"])  # every certificate row still holds


def ok_or_findings(r: Result) -> Result:
    assert r.code in (0, 1), r.both
    return r


def _peer(name: str, path: Path, trust: bytes) -> IpsecPeer:
    key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), PW.encode())
    assert key is not None
    assert cert is not None
    pem = serialization.Encoding.PEM
    chain = b"".join(c.public_bytes(pem) for c in [cert, *extra])
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return IpsecPeer(name, chain, key_pem, trust)


def test_strongswan_agrees_with_check_ha_on_the_renewed_pair(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    """The proof: the v1 and v2 bundles in two charon daemons, each peer's trust store as
    the store holds it: IKE_AUTH both ways, as ``check-ha`` now says."""
    require_tool(CHARON)
    require_tool("swanctl")
    require_tool("ip")
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat: {why}")
    v1, v2 = _renewed_pair(cli, tmp_path)
    doc = _check(cli, v2, v1, "--json").json()
    assert doc["heartbeat_blocked_by"] == []
    roots = ok(cli("export-roots", "--out", "-")).out.encode()
    assert x509.load_pem_x509_certificates(roots)
    run = heartbeat_both_ways(
        _peer(f"{PAIR}-a", v2, roots), _peer(f"{PAIR}-b", v1, roots), pair=PAIR
    )
    assert run.ok, run.to_dict()
