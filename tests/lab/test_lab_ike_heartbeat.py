"""The lab's own HA heartbeat links by strongSwan: what ``ccapki lab status`` reports as an HA
pair's state comes from a real IKEv2 negotiation, both ways, between two charon daemons in
network namespaces (kept running from one round of links to the next), whenever strongSwan
can run here; the TLS emulation of the heartbeat is the fallback, and the status says which
one produced the verdict.

The strongSwan tests need root, ``ip``, ``charon`` and ``swanctl``: skipped without them,
failed under CI.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

from ccapki.lab import HA_BROKEN, Lab, LabSpec, LabStatus
from ccapki.lab.ipsec import CHARON, ipsec_unavailable, pair_addresses
from kit.certs import make_ca
from kit.cli import Cli, ok
from kit.lab import CAS_HA, Deployment, LabFactory, LabHome, run, with_appliance
from kit.tools import need, require_tool

HB = "heartbeat:cas1b->cas1a"


def _strongswan() -> None:
    require_tool(CHARON)
    require_tool("swanctl")
    require_tool("ip")
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat: {why}")


def _our_namespaces() -> set[str]:
    """The network namespaces this process's strongSwan pairs made now."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    tag = f"ccapki-hb{os.getpid()}-"
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith(tag)}


def _untrusting_secondary(deployment: Deployment) -> LabSpec:
    """cas1b holds the pair's certificate and key but trusts only an unrelated root."""
    other = make_ca("Unrelated")
    good = deployment.spec()
    return with_appliance(good, "cas1b", identity=deployment.pair.material(other.root_pem))


def test_good_pair_is_up_by_ikev2_on_kept_daemons(deployment: Deployment) -> None:
    _strongswan()

    async def go() -> tuple[LabStatus, set[str], set[str], set[str], LabStatus]:
        async with Lab(deployment.spec()) as lab:
            first = lab.status()
            ns1 = _our_namespaces()
            await lab.run_links_now()
            ns2 = _our_namespaces()
            await lab.reload(deployment.spec())
            ns3 = _our_namespaces()
            again = lab.status()
        return first, ns1, ns2, ns3, again

    first, ns1, ns2, ns3, again = run(go())
    for st in (first, again):
        pair = st.pair("cas-ha1")
        assert (pair.ok, pair.state, pair.stack, pair.ike_unavailable) == (
            True,
            "HA up",
            "strongswan",
            None,
        )
        link = st.link(HB)
        assert (link.ok, link.stack, link.address) == (True, "strongswan", pair_addresses())
    # one pair of daemons (two namespaces) serves every round and the reload...
    assert len(ns1) == 2
    assert ns1 == ns2 == ns3
    # ...and is gone with the lab
    assert _our_namespaces() == set()


def test_untrusted_certificate_is_ha_broken_by_ike_auth(deployment: Deployment) -> None:
    _strongswan()

    async def go() -> tuple[LabStatus, LabStatus, set[str], set[str]]:
        async with Lab(_untrusting_secondary(deployment)) as lab:
            broken = lab.status()
            ns1 = _our_namespaces()
            await lab.reload(deployment.spec())  # the fix, on the same daemons
            ns2 = _our_namespaces()
            return broken, lab.status(), ns1, ns2

    broken, fixed, ns1, ns2 = run(go())
    pair = broken.pair("cas-ha1")
    assert (pair.ok, pair.state, pair.stack) == (False, HA_BROKEN, "strongswan")
    assert "IKE_AUTH failed" in (pair.error or "")
    assert "cas1b:" in (pair.error or "")  # the refusing peer names itself
    link = broken.link(HB)
    assert (link.ok, link.stack) == (False, "strongswan")
    assert fixed.pair("cas-ha1").state == "HA up"
    assert fixed.pair("cas-ha1").stack == "strongswan"
    assert len(ns1) == 2
    assert ns1 == ns2


def test_tls_emulation_when_ike_is_off_says_so(deployment: Deployment) -> None:
    async def go() -> LabStatus:
        async with Lab(replace(_untrusting_secondary(deployment), ike_heartbeat=False)) as lab:
            return lab.status()

    st = run(go())
    pair = st.pair("cas-ha1")
    assert (pair.ok, pair.state) == (False, HA_BROKEN)
    assert pair.stack.startswith("openssl-")
    assert "turned off" in (pair.ike_unavailable or "")
    assert st.link(HB).stack == pair.stack


def _root_fingerprint(cli: Cli, lab: LabHome, appliance: str) -> str:
    """The fingerprint prefix of the one certificate ``appliance``'s trust store holds."""
    r = ok(cli("trust", "list", appliance, home_dir=lab.home))
    return r.out.split()[0]


def test_lab_status_reports_the_ikev2_verdict_as_offline_predicts(
    cli: Cli, make_lab: LabFactory
) -> None:
    _strongswan()
    lab = make_lab()
    doc = lab.status(cli)
    (pair,) = [p for p in doc["pairs"] if p["pair"] == "cas-ha"]
    assert (pair["ok"], pair["stack"], pair["ike_unavailable"]) == (True, "strongswan", None)
    text = cli("lab", "status", home_dir=lab.home)
    assert "HA heartbeat of cam, cas-ha: strongSwan IKEv2" in text.out, text.both
    assert "judged by IKE_AUTH both ways" in text.out, text.both

    # the secondary stops trusting the pair's issuer: offline "HA broken" ...
    secondary = CAS_HA[1]
    ok(cli("trust", "remove", secondary, _root_fingerprint(cli, lab, secondary), home_dir=lab.home))
    check = cli("trust", "check", "--json", home_dir=lab.home)
    assert check.code == 1
    hb_cells = {
        c["appliance"]: c["status"] for c in check.json()["cells"] if c["channel"] == "ha-heartbeat"
    }
    assert hb_cells[CAS_HA[0]] == hb_cells[CAS_HA[1]] == "fail"
    # ... and the lab, serving that store, sees IKE_AUTH fail
    ok(cli("lab", "reload", home_dir=lab.home))
    doc = lab.status(cli)
    (pair,) = [p for p in doc["pairs"] if p["pair"] == "cas-ha"]
    assert (pair["ok"], pair["state"], pair["stack"]) == (False, HA_BROKEN, "strongswan")
    assert "IKE_AUTH failed" in pair["error"]
    text = cli("lab", "status", home_dir=lab.home)
    assert text.code == 1
    assert "HA broken" in text.out, text.both
    assert "IKE_AUTH failed" in text.out, text.both
