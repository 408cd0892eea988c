"""The lab over real TLS: a healthy deployment, then each break-and-fix scenario.

Each scenario breaks exactly the predicted links (no more, no fewer) and ``reload`` with the
fix restores them without changing a port.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ccapki.lab import HA_BROKEN, NOT_CONNECTED, Lab, LabSpec, LabStatus
from kit.certs import NOW, issue, make_ca
from kit.lab import Deployment, run, with_appliance

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store

ALL_LINKS = {
    "status:cas1a->cam",
    "status:cas1b->cam",
    "status:cas2->cam",
    "control:cam->cas1a",
    "control:cam->cas1b",
    "control:cam->cas2",
    "heartbeat:cas1b->cas1a",
}


async def _break_and_fix(good: LabSpec, bad: LabSpec) -> tuple[LabStatus, LabStatus, LabStatus]:
    lab = Lab(bad)
    await lab.start()
    try:
        broken = lab.status()
        ports = {(e.appliance, e.kind): e.port for e in broken.endpoints}
        await lab.reload(good)
        fixed = lab.status()
        assert {(e.appliance, e.kind): e.port for e in fixed.endpoints} == ports
        # and breaking it again by reload works the same way as starting broken
        await lab.reload(bad)
        again = lab.status()
    finally:
        await lab.stop()
    assert not lab.running
    return broken, fixed, again


def _assert_healthy(st: LabStatus) -> None:
    assert {x.name for x in st.links} == ALL_LINKS
    assert st.all_ok, [(x.name, x.error) for x in st.links if not x.ok]
    assert {a.name: a.state for a in st.appliances if a.role == "cas"} == {
        "cas1a": "Connected",
        "cas1b": "Connected",
        "cas2": "Connected",
    }
    assert st.pair("cas-ha1").state == "HA up"


def test_healthy_deployment_every_endpoint_and_link(deployment: Deployment) -> None:
    async def go() -> LabStatus:
        async with Lab(deployment.spec()) as lab:
            return lab.status()

    st = run(go())
    _assert_healthy(st)
    kinds = {(e.appliance, e.kind) for e in st.endpoints}
    assert kinds == {
        ("cam", "control"),
        ("cam", "gui"),
        *(
            (c, k)
            for c in ("cas1a", "cas1b", "cas2")
            for k in ("control", "agent", "web-login", "gui")
        ),
        ("cas1a", "heartbeat"),
        ("cas1b", "heartbeat"),
    }
    ports = [e.port for e in st.endpoints]
    assert len(set(ports)) == len(ports)
    assert all(e.host == "127.0.0.1" and e.port > 0 for e in st.endpoints)
    assert all(x.handshake_seconds is not None and x.checked_at for x in st.links)
    assert st.running  # taken while the lab ran


def test_expired_cas_certificate(deployment: Deployment) -> None:
    expired = issue(deployment.ca, "cas2.example.edu", now=NOW - dt.timedelta(days=400), days=90)
    good = deployment.spec()
    bad = with_appliance(good, "cas2", identity=expired.material(deployment.trust))
    broken, fixed, again = run(_break_and_fix(good, bad))
    assert broken.broken_links() == {"status:cas2->cam", "control:cam->cas2"}
    st = broken.link("status:cas2->cam")
    assert "expired" in (st.server_error or "").lower()
    ctl = broken.link("control:cam->cas2")
    assert any(w in (ctl.error or "") for w in ("certificate has expired", "ExpiredException"))
    if ctl.stack != "java-pkix":  # OpenSSL's verify code; JSSE names the exception instead
        assert ctl.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    cas2 = broken.appliance("cas2")
    assert cas2.state == NOT_CONNECTED
    assert "expired" in (cas2.detail or "").lower()
    assert broken.appliance("cas1a").state == "Connected"
    _assert_healthy(fixed)
    assert again.broken_links() == broken.broken_links()


def test_cam_root_removed_from_a_cas_trust_store(deployment: Deployment) -> None:
    other = make_ca("Unrelated")
    good = deployment.spec()
    bad = with_appliance(good, "cas2", identity=deployment.cas2.material(other.root_pem))
    broken, fixed, again = run(_break_and_fix(good, bad))
    # cas2 can no longer verify the CAM: as a client (status) nor as a server (control).
    assert broken.broken_links() == {"status:cas2->cam", "control:cam->cas2"}
    st = broken.link("status:cas2->cam")
    assert any(w in (st.error or "") for w in ("unable to get local issuer", "PKIX path building"))
    ctl = broken.link("control:cam->cas2")
    # OpenSSL: the CAM's certificate does not verify; JSSE: the CAM's key manager sends no
    # certificate at all, since none is issued by a CA the CAS's CertificateRequest names
    words = ("unable to get local issuer", "Empty client certificate chain")
    assert any(w in (ctl.server_error or "") for w in words)
    assert broken.appliance("cas2").state == NOT_CONNECTED
    _assert_healthy(fixed)
    assert again.broken_links() == broken.broken_links()


def test_ha_secondary_with_a_different_key(deployment: Deployment) -> None:
    # same names, same CA, a different key: every control link still verifies, but the
    # heartbeat (keyed by the pair identity) cannot come up.
    other = issue(
        deployment.ca,
        "cas-ha1.example.edu",
        ("cas-ha1.example.edu", "cas1a.example.edu", "cas1b.example.edu"),
    )
    good = deployment.spec()
    bad = with_appliance(good, "cas1b", identity=other.material(deployment.trust))
    broken, fixed, again = run(_break_and_fix(good, bad))
    assert broken.broken_links() == {"heartbeat:cas1b->cas1a"}
    pair = broken.pair("cas-ha1")
    assert pair.state == HA_BROKEN
    assert "different identities" in (pair.error or "")
    assert broken.appliance("cas1b").state == "Connected"
    _assert_healthy(fixed)
    assert again.broken_links() == broken.broken_links()


def test_ha_secondary_with_an_untrusted_self_signed_identity(deployment: Deployment) -> None:
    # a regenerated temporary (true self-signed) certificate on the secondary: the
    # heartbeat and everything the secondary does with the CAM break.
    selfsigned = issue(None, "cas1b.example.edu")
    good = deployment.spec()
    bad = with_appliance(good, "cas1b", identity=selfsigned.material(deployment.trust))
    broken, fixed, _ = run(_break_and_fix(good, bad))
    assert broken.broken_links() == {
        "heartbeat:cas1b->cas1a",
        "status:cas1b->cam",
        "control:cam->cas1b",
    }
    assert broken.pair("cas-ha1").state == HA_BROKEN
    hb = broken.link("heartbeat:cas1b->cas1a")
    if hb.stack == "strongswan":  # root with strongSwan: IKE_AUTH refuses the peer
        assert "IKE_AUTH failed" in (hb.error or "")
    else:  # the TLS emulation: the primary's OpenSSL refuses the client certificate
        assert "self-signed" in (hb.server_error or "")
    _assert_healthy(fixed)


def test_cam_switched_to_third_party_ca_without_updating_trust(deployment: Deployment) -> None:
    public = make_ca("Example Public Trust")
    cam3p = issue(public, "cam.example.edu")
    good = deployment.spec()
    bad = with_appliance(good, "cam", identity=cam3p.material(deployment.trust))
    broken, _, again = run(_break_and_fix(good, bad))
    assert broken.broken_links() == {
        "status:cas1a->cam",
        "status:cas1b->cam",
        "status:cas2->cam",
        "control:cam->cas1a",
        "control:cam->cas1b",
        "control:cam->cas2",
    }
    assert all(a.state == NOT_CONNECTED for a in broken.appliances if a.role == "cas")
    assert broken.pair("cas-ha1").state == "HA up"
    assert again.broken_links() == broken.broken_links()

    # the fix keeps the third-party certificate and adds its root to every CAS trust store
    both = deployment.trust + public.root_pem
    fixed_spec = good
    for name in ("cas1a", "cas1b"):
        fixed_spec = with_appliance(fixed_spec, name, identity=deployment.pair.material(both))
    fixed_spec = with_appliance(fixed_spec, "cas2", identity=deployment.cas2.material(both))
    fixed_spec = with_appliance(fixed_spec, "cam", identity=cam3p.material(deployment.trust))

    async def go() -> LabStatus:
        async with Lab(bad) as lab:
            await lab.reload(fixed_spec)
            return lab.status()

    _assert_healthy(run(go()))


def test_periodic_status_exchange_runs_by_itself(deployment: Deployment) -> None:
    import asyncio

    async def go() -> int:
        async with Lab(deployment.spec(link_interval=0.05)) as lab:
            # long enough for rounds of JSSE links on a loaded machine
            await asyncio.sleep(1.5)
            return lab.rounds

    assert run(go()) >= 3


def test_expired_pair_identity_breaks_the_heartbeat(deployment: Deployment) -> None:
    names = ("cas-ha1.example.edu", "cas1a.example.edu", "cas1b.example.edu")
    expired = issue(deployment.ca, names[0], names, now=NOW - dt.timedelta(days=400), days=90)
    good = deployment.spec()
    bad = good
    for name in ("cas1a", "cas1b"):
        bad = with_appliance(bad, name, identity=expired.material(deployment.trust))
    broken, fixed, _ = run(_break_and_fix(good, bad))
    assert broken.broken_links() == {
        "heartbeat:cas1b->cas1a",
        "status:cas1a->cam",
        "status:cas1b->cam",
        "control:cam->cas1a",
        "control:cam->cas1b",
    }
    pair = broken.pair("cas-ha1")
    assert pair.state == HA_BROKEN
    # strongSwan: "subject certificate invalid (valid from ... to ...)"; OpenSSL: "expired"
    word = "certificate invalid" if pair.stack == "strongswan" else "expired"
    assert word in (pair.error or "")
    _assert_healthy(fixed)
