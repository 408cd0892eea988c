"""Walkthrough Q: on 4.9 the CAM allows each CAS by its certificate's DN. For a CAS HA
pair, ``apply``, ``trust plan`` and ``trust check`` named the primary alone ("allow CAS
cas-res-a by DN"), leaving the administrator to wonder about the secondary; they now say
the one entry serves both peers (one certificate, one DN)."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, ha_pair, ok, standalone, write

NOTE = "(HA pair cas-res: one entry for both peers, cas-res-a and cas-res-b, one certificate)"


def test_dn_authorization_of_an_ha_pair_names_both_peers(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        release="4.9.0",
        cas=[ha_pair("cas-res", "10.0.2"), standalone("cas-lib", "10.0.3.10")],
    )
    r = ok(cli("apply", write(tmp_path / "d.toml", text)))
    ha = [line for line in r.out.splitlines() if "allow CAS cas-res-a by DN" in line]
    assert len(ha) == 1, r.out
    assert NOTE in ha[0]
    solo = [line for line in r.out.splitlines() if "allow CAS cas-lib by DN" in line]
    assert len(solo) == 1, r.out
    assert "HA pair" not in solo[0]
    check = ok(cli("trust", "check")).out
    assert any(line.startswith("   cas-res-a: CN=") and NOTE in line for line in check.splitlines())
    plan = ok(cli("trust", "plan")).out
    lines = [line for line in plan.splitlines() if "allow CAS cas-res-a by DN" in line]
    assert len(lines) == 1, plan
    assert NOTE in lines[0]
