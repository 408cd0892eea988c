"""CCA 4.9: the CAM serves a CAS only when the CAS's certificate subject DN is authorized.
A third-party CA answers a CAS's next CSR with another DN (an OU added); the store holds it,
the running lab not yet (no `lab reload`). ``verify --live`` probes the CAS's status link
with the store's certificate, and the lab's CAM, still authorizing the old DN, drops it.
The lab was known to serve old material for the CAS only: the CAM's cells (and the CAS's
CAM/CAS cell) were compared, offline pass against live fail, and reported as "ccapki bug"
(exit 3). The DNs a CAM authorizes are part of what it serves: the CAMs are outdated too,
their probes not compared, and the report says to reload the lab (exit 1); after the
reload every cell passes, live and offline.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem, utcnow
from kit.cli import Cli, ok, write
from kit.lab import LabHome, assert_all_pass, stop_lab

DEP = """[deployment]
name = "dnauth"
release = "4.9.0"
organization = "DN Authorization Test"
source = "internal"
key = "ecdsa-p256"

[cam]
name = "cam"
virtual_hostname = "cam.lab.test"
service_ip = "10.50.0.10"
primary = { name = "cam-a", hostname = "cam-a.lab.test", ip = "10.50.0.11" }
secondary = { name = "cam-b", hostname = "cam-b.lab.test", ip = "10.50.0.12" }

[[cas]]
name = "cas-clinic"
hostname = "cas-clinic.lab.test"
ip = "10.51.0.10"
source = "third-party"
"""


def _answer(cli: Cli, home: Path, tmp: Path, outside: OutsideCA, ou: str | None) -> None:
    """cas-clinic's CSR answered by ``outside`` (its subject + ``OU=ou`` if given), imported."""
    ok(cli("csr", "cas-clinic", "--out", tmp, home_dir=home))
    csr = x509.load_pem_x509_csr((tmp / "cas-clinic.csr").read_bytes())
    subject = csr.subject
    if ou is not None:
        subject = x509.Name.from_rfc4514_string(f"{subject.rfc4514_string()},OU={ou}")
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cert = outside.sign(
        subject,
        csr.public_key(),
        dns=san.get_values_for_type(x509.DNSName),
        ips=[str(i) for i in san.get_values_for_type(x509.IPAddress)],
    )
    bundle = pem(cert) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp / "cas-clinic.pem", bundle), home_dir=home))


def test_a_cas_dn_the_lab_s_cam_does_not_authorize_yet_is_not_a_ccapki_bug(
    cli: Cli, tmp_path: Path
) -> None:
    home, dep = tmp_path / "home", write(tmp_path / "dep.toml", DEP)
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", dep, home_dir=home))
    outside = OutsideCA.make(now=utcnow())
    _answer(cli, home, tmp_path / "first", outside, None)
    ok(cli("trust", "apply", home_dir=home))
    lab = LabHome(home, dep)
    ok(cli("lab", "up", home_dir=home))
    try:
        assert_all_pass(*lab.verify(cli))
        # the CA answers the next CSR with another DN; the lab still serves the old state
        _answer(cli, home, tmp_path / "second", outside, "Renewed")
        code, doc = lab.verify(cli)
        text = cli("verify", "--live", home_dir=home)
        ok(cli("lab", "reload", home_dir=home))
        after = lab.verify(cli)
    finally:
        stop_lab(cli, lab)
    assert set(doc["lab_outdated"]) == {"cam-a", "cam-b", "cas-clinic"}, doc["lab_outdated"]
    assert [c for c in doc["cells"] if not c["agree"]] == [], doc["cells"]
    assert (code, doc["agree"]) == (1, True), doc
    stale = {(c["appliance"], c["channel"]) for c in doc["cells"] if not c["compared"]}
    assert {("cam-a", "cam-cas"), ("cam-b", "cam-cas"), ("cas-clinic", "cam-cas")} <= stale
    dropped = [
        e
        for c in doc["cells"]
        for e in c["live_errors"]
        if e.startswith("status:cas-clinic->cam-a")
    ]
    assert dropped, doc["cells"]
    assert all("`ccapki lab reload`" in e for e in dropped), dropped
    assert text.code == 1, text.both
    assert "ccapki bug" not in text.both, text.both
    assert "`ccapki lab reload`" in text.out, text.both
    # reloaded: the CAM authorizes the new DN, every cell passes both ways
    assert_all_pass(*after)
