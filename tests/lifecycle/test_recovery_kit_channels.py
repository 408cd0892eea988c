"""Walkthrough E (the FAQ: "Certificates are also used for the initial redirect page that
clients without agents see and for the management GUIs"): the redirect page (web login) is
the CAS's; the CAM serves its management GUI only. A CAM's recovery kit told the
administrator to check that "the CAM GUI and web login present the new certificate": there
is no web login on a CAM to check. Each kit names the pages its appliance serves.
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok

PASSWORD = {"CCAPKI_EXPORT_PASSWORD": "kit password"}


def _readme(cli: Cli, name: str, out: Path) -> str:
    ok(cli("backup", "appliance", name, "--out", out, env=PASSWORD))
    return (out / "README.txt").read_text()


def test_each_kit_checks_the_pages_its_appliance_serves(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    cam = _readme(cli, "cam", tmp_path / "cam-kit")
    assert "the CAM GUI presents the new certificate" in cam, cam
    assert "web login" not in cam, cam
    cas = _readme(cli, "cas-clinic", tmp_path / "cas-kit")
    assert "the CAS GUI and the web login page present the new certificate" in cas, cas
