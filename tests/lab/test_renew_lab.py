"""Issue 12 item 2: after ``ccapki renew --commit``, ``lab reload`` serves the renewal and
``verify --live`` proves it (the machine's clock: real handshakes)."""

from __future__ import annotations

import hashlib
import ssl

from kit.cli import Cli, ok
from kit.lab import LabFactory, assert_all_pass


def served_fingerprint(address: tuple[str, int]) -> str:
    """SHA-256 of the certificate an endpoint presents (no verification: only which one)."""
    pem = ssl.get_server_certificate(address, timeout=10)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_renewed_pair_served_after_lab_reload_and_proven_live(
    cli: Cli, make_lab: LabFactory
) -> None:
    lab = make_lab()
    status = lab.status(cli)
    guis = {
        e["appliance"]: (e["host"], e["port"])
        for e in status["endpoints"]
        if e["kind"] == "gui" and e["appliance"] in ("cam-a", "cam-b")
    }
    assert set(guis) == {"cam-a", "cam-b"}
    before = {a: served_fingerprint(addr) for a, addr in guis.items()}
    r = ok(cli("renew", "cam-b", "--commit", home_dir=lab.home, env=lab.env))
    assert "renewed cam v2 (was v1;" in r.out
    assert "next: `ccapki lab reload`" in r.out
    assert "next: `ccapki verify --live`" in r.out
    js = ok(cli("renew", "cam", "--json", home_dir=lab.home, env=lab.env)).json()
    new_fp = js["items"][0]["fingerprint"]  # the current version, as the next plan sees it
    assert new_fp not in before.values()
    # not reloaded yet: both peers still serve the old certificate
    assert {a: served_fingerprint(addr) for a, addr in guis.items()} == before
    ok(cli("lab", "reload", home_dir=lab.home, env=lab.env))
    assert {a: served_fingerprint(addr) for a, addr in guis.items()} == {
        "cam-a": new_fp,
        "cam-b": new_fp,
    }
    assert_all_pass(*lab.verify(cli))
