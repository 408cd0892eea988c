"""Walkthrough E (FAQ: "when I use self-signed certificates ... warning messages on my
clients"): a self-signed CAS on CCA 4.8 lasts 5 years, which macOS and iOS refuse for a TLS
server (825 days at most). ``trust check`` fails its web-login, agent-free and admin cells
for it, but ``verify --live`` showed them "pass" and said "offline verdicts and live
handshakes agree in every cell", with no word of the refusal: an administrator reading it
believed the Macs fine. The live verdict stays the handshake's (no macOS runs here), and the
report now lists those cells apart with trust check's reasons (text and JSON).
"""

from __future__ import annotations

from kit.cli import Cli, ok
from kit.lab import SOLO, LabFactory, deployment_toml


def test_verify_live_lists_cells_client_platforms_refuse(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab(up=False)
    text = deployment_toml().replace(f'name = "{SOLO}"', f'name = "{SOLO}"\nsource = "self-signed"')
    lab.deployment.write_text(text, encoding="utf-8")
    ok(cli("apply", lab.deployment, home_dir=lab.home))
    ok(cli("lab", "up", "--interval", "1", home_dir=lab.home))

    offline = cli("trust", "check", "--json", home_dir=lab.home)
    assert offline.code == 1, offline.both
    failing = {
        (c["appliance"], c["channel"]) for c in offline.json()["cells"] if c["status"] == "fail"
    }
    assert (SOLO, "web-login") in failing, failing

    code, doc = lab.verify(cli)
    # the exit code stays the handshakes' (no probe failed, nothing disagrees)
    assert code == 0, doc
    assert doc["agree"] is True, doc
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    assert cells[(SOLO, "web-login")]["live"] == "pass"
    refused = {k for k, c in cells.items() if c["refusals"]}
    assert refused == failing, (refused, failing)
    assert any("825 days" in why for why in cells[(SOLO, "web-login")]["refusals"])
    assert cells[("cam-a", "admin-gui")]["refusals"] == []

    r = cli("verify", "--live", home_dir=lab.home)
    assert "client platforms refuse them by policy" in r.out, r.out
    assert f"{SOLO} web-login: macos refuses it" in r.out, r.out
