"""An HA peer renamed in the deployment file while the pair's third-party certificate (kept
by ``apply``: only the CA can reissue it) still names the old peer: offline, each renamed
peer's admin GUI fails (Chromium checks the name the admin's browser opens, the peer's own
hostname, in the subjectAltName). ``verify --live`` said "ccapki bug: offline and live
disagree" (exit 3): the lab's GUI endpoints were probed by the pair's virtual hostname, a
name the certificate holds. The GUI is now probed by the peer's own hostname, so live and
offline agree that it fails (exit 1, a finding), for a CAS pair and for the CAM pair.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, key_pem, mint, pem, utcnow
from kit.cli import Cli, deployment, ok, write
from kit.endpoints import EndpointHost, Tls
from kit.lab import LabHome, stop_lab

DEP = """[deployment]
name = "renamed"
release = "4.8.0"
organization = "Renamed Peer Test"
source = "third-party"
key = "ecdsa-p256"

[cam]
name = "cam"
virtual_hostname = "cam.lab.test"
service_ip = "10.40.0.10"
primary = {{ name = "cam-a", hostname = "cam-a.lab.test", ip = "10.40.0.11" }}
secondary = {{ name = "{cam_b}", hostname = "{cam_b}.lab.test", ip = "10.40.0.12" }}

[[cas]]
name = "cas-dorm"
virtual_hostname = "cas-dorm.lab.test"
service_ip = "10.41.0.10"
primary = {{ name = "cas-dorm-a", hostname = "cas-dorm-a.lab.test", ip = "10.41.0.11" }}
secondary = {{ name = "{cas_b}", hostname = "{cas_b}.lab.test", ip = "10.41.0.12" }}
"""


def _deployment(path: Path, cam_b: str, cas_b: str) -> Path:
    return write(path, DEP.format(cam_b=cam_b, cas_b=cas_b))


def test_verify_live_fails_a_renamed_peer_s_gui_as_offline_does(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    dep = tmp_path / "dep.toml"
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", _deployment(dep, "cam-b", "cas-dorm-b"), home_dir=home))
    outside = OutsideCA.make(now=utcnow())
    for pair in ("cam", "cas-dorm"):
        ok(cli("csr", pair, "--out", tmp_path / "csr", home_dir=home))
        csr = x509.load_pem_x509_csr((tmp_path / "csr" / f"{pair}.csr").read_bytes())
        bundle = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
        ok(cli("import", write(tmp_path / f"{pair}.pem", bundle), home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    # both secondaries renamed: the certificates (kept) name cam-b and cas-dorm-b only
    ok(cli("apply", _deployment(dep, "cam-c", "cas-dorm-c"), home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    renamed = {("cam-c", "admin-gui"), ("cas-dorm-c", "admin-gui")}
    check = cli("trust", "check", "--json", home_dir=home)
    assert check.code == 1, check.both
    offline = {
        (c["appliance"], c["channel"]) for c in check.json()["cells"] if c["status"] == "fail"
    }
    assert offline == renamed, offline

    lab = LabHome(home, dep)
    ok(cli("lab", "up", home_dir=home))
    try:
        status = lab.status(cli)
        r = cli("verify", "--live", home_dir=home)
        code, doc = lab.verify(cli)
    finally:
        stop_lab(cli, lab)
    # each appliance's own GUI is probed by its own hostname, as the admin's browser opens it
    gui = {e["appliance"]: e["server_name"] for e in status["endpoints"] if e["kind"] == "gui"}
    assert gui == {
        "cam-a": "cam-a.lab.test",
        "cam-c": "cam-c.lab.test",
        "cas-dorm-a": "cas-dorm-a.lab.test",
        "cas-dorm-c": "cas-dorm-c.lab.test",
    }, gui
    assert r.code == 1, r.both  # a finding, not "a ccapki bug"
    assert "ccapki bug" not in r.both, r.both
    assert "FAIL gui:cas-dorm-c" in r.out, r.out
    assert "FAIL gui:cam-c" in r.out, r.out
    assert (code, doc["agree"], doc["ok"]) == (1, True, False), doc
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    for cell in renamed:
        c = cells[cell]
        assert (c["offline"], c["live"], c["agree"]) == ("fail", "fail", True), c
        assert any("cas-dorm-c" in e or "cam-c" in e for e in c["live_errors"]), c
    # the other peers' GUIs (their own hostnames in the certificate) pass both ways
    for cell in (("cam-a", "admin-gui"), ("cas-dorm-a", "admin-gui")):
        assert (cells[cell]["offline"], cells[cell]["live"]) == ("pass", "pass"), cells[cell]


def _real_pair(secondary: str, gui_a: str, gui_b: str) -> str:
    peer = (
        '{{ name = "{n}", hostname = "{n}.example.org", ip = "{ip}", '
        'endpoints = {{ gui = "{g}" }} }}'
    )
    return deployment(
        name="walkreal",
        cas=[
            "\n".join(
                [
                    'name = "cas-pair"',
                    'virtual_hostname = "cas-pair.example.org"',
                    'service_ip = "10.42.0.10"',
                    'source = "third-party"',
                    "primary = " + peer.format(n="cas-pair-a", ip="10.42.0.11", g=gui_a),
                    "secondary = " + peer.format(n=secondary, ip="10.42.0.12", g=gui_b),
                ]
            )
            + "\n"
        ],
    )


def test_verify_live_on_real_appliances_checks_each_peer_s_gui_by_its_own_hostname(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    placeholder = mint("placeholder", san=["placeholder"])
    with EndpointHost() as host:
        gui_a = host.add(Tls(pem(placeholder.cert), key_pem(placeholder.key)))
        gui_b = host.add(Tls(pem(placeholder.cert), key_pem(placeholder.key)))
        dep = tmp_path / "real.toml"
        ok(cli("apply", write(dep, _real_pair("cas-pair-b", gui_a, gui_b))))
        ok(cli("csr", "cas-pair", "--out", tmp_path / "csr"))
        csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-pair.csr").read_bytes())
        outside = OutsideCA.make(now=utcnow())
        answer = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
        ok(cli("import", write(tmp_path / "answer.pem", answer)))
        # the secondary renamed: the certificate (kept) names cas-pair-b, not cas-pair-c
        ok(cli("apply", write(dep, _real_pair("cas-pair-c", gui_a, gui_b))))
        ok(cli("trust", "apply"))
        bundle = tmp_path / "bundle.pem"
        ok(cli("export", "cas-pair", "--format", "pem-bundle", "--out", bundle))
        served = Tls.from_bundle(bundle.read_bytes(), http=True)
        host.set(gui_a, served)
        host.set(gui_b, served)
        r = cli("verify", "--live", "--target", "deployment", "--json")
    assert r.code == 1, r.both  # a finding, not a disagreement (3)
    doc = r.json()
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    renamed = cells[("cas-pair-c", "admin-gui")]
    assert (renamed["offline"], renamed["live"], renamed["agree"]) == ("fail", "fail", True)
    assert any("cas-pair-c.example.org" in e for e in renamed["live_errors"]), renamed
    primary = cells[("cas-pair-a", "admin-gui")]
    assert (primary["offline"], primary["live"]) == ("pass", "pass"), str(primary)
