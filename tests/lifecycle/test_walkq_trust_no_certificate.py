"""Walkthrough Q: ``ccapki trust check`` of a deployment where an identity has no
certificate yet (a third-party CAS before the CA answered, an internal one not applied)
failed its cells with "no certificate yet" alone; every finding now names its next step,
as the other findings' "-> fix:" do."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, ha_pair, ok, standalone, write


def _fail_lines(out: str) -> list[str]:
    lines = out.splitlines()
    return [lines[i + 1].strip() for i, line in enumerate(lines) if line.startswith("FAIL ")]


def test_third_party_without_certificate_names_the_csr_and_import(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        release="4.9.0",
        cam=ha_pair("cam", "10.0.1"),
        cas=[standalone("cas-med", "10.0.4.10", source="third-party")],
    )
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    r = cli("trust", "check")
    assert r.code == 1, r.both
    found = _fail_lines(r.out)
    assert found, r.out
    for line in found:
        assert "no certificate yet -> fix: " in line, line
        assert "`ccapki csr cas-med`" in line, line
        assert "`ccapki import FILE`" in line, line
    ok(cli("csr", "cas-med", "--out", tmp_path / "csrs"))
    found = _fail_lines(cli("trust", "check").out)
    assert found
    for line in found:  # the CSR is made: what is left is the CA's answer
        assert "awaits the CA" in line, line
        assert "`ccapki import FILE`" in line, line


def test_heartbeat_without_certificate_names_the_fix(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        release="4.9.0",
        cam=standalone("cam", "10.0.0.1"),
        cas=[ha_pair("cas-tp", "10.0.5", source="third-party")],
    )
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    r = cli("trust", "check", "--json")
    cells = [c for c in r.json()["cells"] if c["appliance"] == "cas-tp-a"]
    assert {c["channel"] for c in cells} >= {"cam-cas", "ha-heartbeat", "agent"}
    for c in cells:
        assert c["status"] == "fail"
        for f in c["findings"]:
            assert "-> fix: " in f, f
            assert "`ccapki csr cas-tp`" in f, f
