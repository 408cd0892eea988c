"""Walkthrough C: ``ccapki import`` of a third-party HA pair's certificate said only
"imported cas-ha v1 (...)", while the CAM and both peers trust nothing of that CA yet: an
administrator following it installs the certificate and breaks CAM<->CAS and the heartbeat
(``trust check`` fails every link). Import now says what the trust stores lack, and that
the additions go on the appliances before the certificate; nothing when they hold it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write

NEXT = "next: the trust stores lack what the imported certificate needs"


def test_import_from_a_root_no_appliance_trusts_says_to_add_it_first(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    text = deployment(
        name="walkc",
        cam=standalone("cam", "10.9.0.1"),
        cas=[ha_pair("cas-ha", "10.9.1", source="third-party")],
    )
    ok(cli("apply", write(tmp_path / "walkc.toml", text)))
    ok(cli("csr", "cas-ha", "--out", tmp_path))
    csr = x509.load_pem_x509_csr((tmp_path / "cas-ha.csr").read_bytes())
    cert = outside.sign_csr(csr)
    answer = write(tmp_path / "back" / "cas-ha.pem", pem(cert) + pem(outside.inter))
    write(tmp_path / "back" / "root.pem", pem(outside.root))

    r = ok(cli("import", answer.parent))
    assert "imported cas-ha v1" in r.out
    line = next(ln for ln in r.out.splitlines() if ln.startswith(NEXT))
    # the CAM and both peers of the pair: 3 additions of the outside root
    assert "(3 additions, `ccapki trust plan` lists them)" in line
    assert "before installing it, then `ccapki trust apply`" in line
    assert len(ok(cli("trust", "plan", "--json")).json()) == 3
    # the clients of that CAS pair need the new root too (walkthrough C)
    assert "`ccapki export-roots --out DIR`" in r.out

    ok(cli("trust", "apply"))
    r = ok(cli("import", answer.parent))  # already held, and trusted: no "next"
    assert NEXT not in r.out
    assert "export-roots" not in r.out
