"""An HA pair whose one true self-signed certificate expired, trusted directly by each peer
(an install-time temporary certificate left in place), negotiated by real strongSwan: two
charon daemons in network namespaces bring the IKE_SA up both ways, as ``trust check``'s
ha-heartbeat cells and ``check-ha`` both predict offline (audit, item 1: ``check-ha`` said
"HA broken"). The clients are another matter: ``check-ha`` still fails the validity row.

The store is made by the CLI on the machine's clock (charon judges validity by it). Needs
root, ``ip``, ``charon`` and ``swanctl``; skipped without them, failed under CI.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.lab.ipsec import CHARON, ipsec_unavailable
from ccapki.lifecycle.heartbeat import identity_heartbeat
from ccapki.lifecycle.trustops import check_deployment, load_inventory
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from ccapki.topology.model import Channel
from kit.certs import mint, pem, utcnow
from kit.cli import Cli, ok
from kit.tools import need, require_tool

PAIR = "p1"
PEERS = ("p1-a", "p1-b")
NAMES = ["p1.hb.test", "p1-a.hb.test", "p1-b.hb.test", "192.0.2.10", "192.0.2.11", "192.0.2.12"]


@pytest.fixture(autouse=True)
def _strongswan() -> None:
    require_tool(CHARON)
    require_tool("swanctl")
    require_tool("ip")
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat: {why}")


DEPLOYMENT = f"""\
[deployment]
name = "expired-trusted"
release = "4.8.0"
organization = "Heartbeat Test"
source = "self-signed"

[cam]
name = "cam"
hostname = "cam.hb.test"
ip = "192.0.2.1"

[[cas]]
name = "{PAIR}"
virtual_hostname = "p1.hb.test"
service_ip = "192.0.2.10"
primary = {{ name = "p1-a", hostname = "p1-a.hb.test", ip = "192.0.2.11" }}
secondary = {{ name = "p1-b", hostname = "p1-b.hb.test", ip = "192.0.2.12" }}
"""


def test_expired_self_signed_pair_certificate_trusted_directly_brings_the_ike_sa_up(
    cli: Cli, tmp_path: Path
) -> None:
    home, path = tmp_path / "store", tmp_path / "d.toml"
    path.write_text(DEPLOYMENT, encoding="utf-8")
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", path, home_dir=home))
    # the appliance's own certificate: true self-signed, every name, expired 10 days ago
    now = utcnow()
    own = mint("p1.hb.test", san=NAMES, start=now - dt.timedelta(days=375), days=365, now=now)
    key = own.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "own.pem").write_bytes(pem(own.cert) + key)
    ok(cli("import", tmp_path / "own.pem", "--force", home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    dep = load_deployment(path)

    with Store.open(home, passphrase=lambda: "") as store:
        assert store.identities.current()[PAIR].certificate == own.cert
        inv = load_inventory(store, dep)
        run = identity_heartbeat(store, dep, PAIR)
    matrix = check_deployment(inv, utcnow(), ())
    offline = {
        c.appliance: c.handshake_ok
        for c in matrix.cells
        if c.channel is Channel.HA_HEARTBEAT and c.appliance in PEERS
    }
    checked = cli("check-ha", PAIR, "--json", home_dir=home)
    assert checked.code == 1, checked.both  # not fit: the clients refuse it
    doc = checked.json()

    # live: charon authenticates the expired certificate it trusts directly, both ways
    assert run.ok, run.to_dict()
    assert [(o.initiator, o.responder) for o in run.outcomes] == [PEERS, PEERS[::-1]]
    assert all(o.established and o.refused_by is None for o in run.outcomes)
    # offline, both commands: the heartbeat comes up, as it did
    assert offline == {"p1-a": True, "p1-b": True}
    assert doc["heartbeat_blocked_by"] == []
    assert [c["item"] for c in doc["checks"] if not c["ok"]] == ["valid now"]
    text = cli("check-ha", PAIR, home_dir=home).out
    assert "HA broken" not in text, text
    assert "the IPsec heartbeat still comes up" in text, text
