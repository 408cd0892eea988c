"""``trust check``'s agent cell judges the Clean Access Agent on a Mac too (audit, item 3):
with 4.8's five-year self-signed default the agent cell passed while web login failed
"macos refuses it" (825 days, Apple HT210176). The Mac agent refuses it as macOS does; a
certificate within 825 days passes both, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.cli import Cli, deployment, ha_pair, ok, write


def _cells(doc: dict[str, Any], channel: str) -> dict[str, dict[str, Any]]:
    return {c["appliance"]: c for c in doc["cells"] if c["channel"] == channel}


def _file(tmp_path: Path, validity: str = "") -> Path:
    text = deployment(release="4.8.0", source="self-signed", cas=[ha_pair("p1", "10.2.0")])
    if validity:
        text = text.replace('key = "ecdsa-p256"\n', f'key = "ecdsa-p256"\n{validity}\n', 1)
    return write(tmp_path / "d.toml", text)


def test_the_agent_cell_fails_what_a_mac_agent_refuses(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _file(tmp_path)))
    r = cli("trust", "check", "--json")
    assert r.code == 1, r.both
    agent = _cells(r.json(), "agent")
    assert {a: c["status"] for a, c in agent.items()} == {"p1-a": "fail", "p1-b": "fail"}
    (why,) = agent["p1-a"]["findings"]
    assert why.startswith("agent-macos refuses it: [validity-too-long] Clean Access Agent on macOS")
    assert "1826 days" in why, why
    assert "825 days" in why, why
    assert "set validity_days = 824 or less for this identity" in why, why
    # the web login cell names macOS too, for the same rule
    web = _cells(r.json(), "web-login")["p1-a"]["findings"]
    assert any(w.startswith("macos refuses it: [validity-too-long]") for w in web), web

    text = cli("trust", "check")
    assert "FAIL p1-a agent:" in text.out, text.out
    assert "agent-macos refuses it: [validity-too-long] Clean Access Agent on macOS" in text.out


def test_within_825_days_the_agent_cell_passes_as_before(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _file(tmp_path, "validity_days = 824")))
    r = cli("trust", "check", "--json")
    agent = _cells(r.json(), "agent")
    assert {a: c["status"] for a, c in agent.items()} == {"p1-a": "pass", "p1-b": "pass"}
    assert r.code == 0, r.both
