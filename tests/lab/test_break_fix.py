"""Issue 5, point 5: break-and-fix scenarios through the CLI.

Each breaks the deployment the way an admin would, asserts that ``verify --live --json``
fails exactly the predicted cells (live and offline agreeing, exit 1), then repairs it with
``trust plan`` + ``trust apply`` + ``lab reload`` (+ ``apply`` where a new certificate is
needed) and asserts every channel passes again. The lab engine's own scenarios are in
tests/lab; here the store, the CLI and the daemon run together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.lab import EndpointMaterial
from ccapki.lab.daemon import request_reload
from ccapki.lifecycle.labspec import build_spec
from ccapki.pki.issue import IdentityRequest, issue_identity
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store import Store
from ccapki.topology.loader import parse_deployment
from kit.certs import OutsideCA, pem, utcnow
from kit.cli import Cli, ok
from kit.lab import SHORT, LabFactory, LabHome, assert_all_pass, assert_breaks

CAS_ALL = ("cas-ha-a", "cas-ha-b", "cas-solo")


def repair_trust(cli: Cli, lab: LabHome) -> list[dict[str, str]]:
    plan: list[dict[str, str]] = ok(cli("trust", "plan", "--json", home_dir=lab.home)).json()
    ok(cli("trust", "apply", home_dir=lab.home))
    assert ok(cli("trust", "plan", "--json", home_dir=lab.home)).json() == []
    ok(cli("lab", "reload", home_dir=lab.home))
    return plan


def test_expired_cas_certificate(cli: Cli, make_lab: LabFactory) -> None:
    # cas-short is valid for one day, issued two days ago: expired now
    lab = make_lab(short=True, apply_now=utcnow() - dt.timedelta(days=2))
    status = lab.status(cli)
    assert {x["name"] for x in status["links"] if x["ok"] is False} == {
        f"status:{SHORT}->cam-a",
        f"control:cam-a->{SHORT}",
    }
    assert {a["name"]: a["state"] for a in status["appliances"]}[SHORT] == "Not connected"
    text = cli("lab", "status", home_dir=lab.home)
    assert text.code == 1
    assert f"{SHORT}: Not connected" in text.out
    code, doc = lab.verify(cli)
    # the CAS's every channel fails, and both CAMs' links to it (the standby CAM is probed
    # too: after a failover the CASes talk to it)
    clients = {(SHORT, ch) for ch in ("cam-cas", "agent", "web-login", "admin-gui")}
    broken = {*clients, ("cam-a", "cam-cas"), ("cam-b", "cam-cas")}
    assert_breaks(code, doc, live=broken, offline=broken)
    errors = [e for c in doc["cells"] if c["appliance"] == SHORT for e in c["live_errors"]]
    assert any("expired" in e for e in errors), errors

    # fix: apply renews it (a new certificate); until the lab reloads, it still serves the
    # expired one: live fails but is not held against the store's (renewed) verdict
    renewed = ok(cli("apply", lab.deployment, home_dir=lab.home))
    assert f"renewed {SHORT} v2" in renewed.out
    assert ok(cli("trust", "plan", "--json", home_dir=lab.home)).json() == []
    code, doc = lab.verify(cli)
    assert code == 1
    assert doc["agree"] is True
    stale = {(c["appliance"], c["channel"]) for c in doc["cells"] if not c["compared"]}
    assert stale
    assert {a for a, _ in stale} <= {SHORT, "cam-a", "cam-b"}
    ok(cli("lab", "reload", home_dir=lab.home))
    assert_all_pass(*lab.verify(cli))


def test_cam_root_removed_from_a_cas_trust_store(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    entries = ok(cli("trust", "list", "cas-ha-a", home_dir=lab.home)).out.split()
    fp = entries[0]
    ok(cli("trust", "remove", "cas-ha-a", fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))
    code, doc = lab.verify(cli)
    # cas-ha-a trusts neither the CAM nor its own pair: its CAM/CAS cell, both CAMs', and
    # the pair's heartbeat (both peers) fail
    broken = {
        ("cas-ha-a", "cam-cas"),
        ("cam-a", "cam-cas"),
        ("cam-b", "cam-cas"),
        ("cas-ha-a", "ha-heartbeat"),
        ("cas-ha-b", "ha-heartbeat"),
    }
    assert_breaks(code, doc, live=broken, offline=broken)
    status = lab.status(cli)
    assert {p["pair"]: p["ok"] for p in status["pairs"]} == {"cam": True, "cas-ha": False}

    plan = repair_trust(cli, lab)
    assert [(c["action"], c["appliance"]) for c in plan] == [("add", "cas-ha-a")]
    assert_all_pass(*lab.verify(cli))


def _fresh_identity_like(home: Path, identity: str) -> tuple[bytes, bytes]:
    """A new certificate + key for ``identity``'s names, from the same internal CA."""
    with Store.open(home, passphrase=lambda: "") as store:
        issuer = store.cas.issuer("internal-ca")
        current = store.identities.get(identity)
    assert issuer is not None
    assert current is not None
    san = current.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    cn = current.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    request = IdentityRequest(
        str(cn),
        tuple(san.value.get_values_for_type(x509.DNSName)),
        tuple(san.value.get_values_for_type(x509.IPAddress)),
        "Lab CLI Test",
    )
    key = generate_key(KeyType.ECDSA_P256)
    cert = issue_identity(request, key.public_key(), now=utcnow(), days=30, issuer=issuer)
    assert cert.public_key() != current.certificate.public_key()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem(cert) + b"".join(pem(c) for c in current.chain), key_pem


def test_ha_secondary_with_a_different_key(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    # one identity per pair in the store: the divergent secondary exists only in the lab
    with Store.open(lab.home, passphrase=lambda: "") as store:
        kept = store.deployments.latest()
        assert kept is not None
        spec = build_spec(store, parse_deployment(kept.text, "stored"), link_interval=1)
    chain_pem, key_pem = _fresh_identity_like(lab.home, "cas-ha")
    apps = tuple(
        dataclasses.replace(a, identity=EndpointMaterial(chain_pem, key_pem, a.identity.trust_pem))
        if a.name == "cas-ha-b"
        else a
        for a in spec.appliances
    )
    state = request_reload(lab.state_dir, dataclasses.replace(spec, appliances=apps))
    assert state.last_error is None
    assert state.status is not None
    assert state.status.pair("cas-ha").ok is False
    assert "HA broken" in state.status.pair("cas-ha").state

    code, doc = lab.verify(cli)
    # live: the heartbeat fails (the secondary presents another certificate); the store
    # holds one identity for the pair, so offline all passes and the cells are not compared
    assert code == 1
    assert doc["agree"] is True
    broken = {("cas-ha-a", "ha-heartbeat"), ("cas-ha-b", "ha-heartbeat")}
    assert {(c["appliance"], c["channel"]) for c in doc["cells"] if c["live"] == "fail"} == broken
    assert {(c["appliance"], c["channel"]) for c in doc["cells"] if c["offline"] == "fail"} == set()
    hb = [c for c in doc["cells"] if (c["appliance"], c["channel"]) in broken]
    assert all(not c["compared"] for c in hb)
    assert any("HA peers must hold the same identity" in e for c in hb for e in c["live_errors"])

    # lab reload (no spec): serves the store again
    ok(cli("lab", "reload", home_dir=lab.home))
    assert {p["pair"]: p["state"] for p in lab.status(cli)["pairs"]} == {
        "cam": "HA up",
        "cas-ha": "HA up",
    }
    assert_all_pass(*lab.verify(cli))


def test_cam_switched_to_third_party_without_updating_trust(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    outside = OutsideCA.make("Outside Test CA", now=utcnow(), intermediate=False)
    ok(cli("csr", "cam", "--out", tmp_path / "csr", home_dir=lab.home))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cam.csr").read_bytes())
    (tmp_path / "cam.pem").write_bytes(pem(outside.sign_csr(csr)))
    (tmp_path / "outside-root.pem").write_bytes(pem(outside.root))
    imported = ok(
        cli("import", tmp_path / "cam.pem", tmp_path / "outside-root.pem", home_dir=lab.home)
    )
    assert "imported cam v2" in imported.out
    ok(cli("lab", "reload", home_dir=lab.home))

    code, doc = lab.verify(cli)
    # no appliance trusts the outside root yet: every CAM/CAS link fails, and the CAM pair's
    # own heartbeat (its peers verify each other with the old trust store)
    cam_cas = {(a, "cam-cas") for a in ("cam-a", "cam-b", *CAS_ALL)}
    heartbeat = {("cam-a", "ha-heartbeat"), ("cam-b", "ha-heartbeat")}
    assert_breaks(code, doc, live={*cam_cas, *heartbeat}, offline={*cam_cas, *heartbeat})

    plan = repair_trust(cli, lab)
    assert {(c["action"], c["appliance"]) for c in plan} == {
        ("add", a) for a in ("cam-a", "cam-b", *CAS_ALL)
    }
    assert all("Outside Test CA" in c["text"] for c in plan)
    assert_all_pass(*lab.verify(cli))
