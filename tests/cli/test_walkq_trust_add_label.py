"""Walkthrough Q: a root added by hand (``ccapki trust add cam-a radius-root.pem``) was
labelled "added from radius-root.pem" alone, and ``ccapki status`` showed that label as
the row's name: which CA it is (the one to replace when it expires) was not said. The
label now names the CA too; a hand-added entry is still recognised as one (no prune
removes it)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kit.certs import OutsideCA
from kit.cli import FAQ, Cli, ok, write


def test_status_names_the_ca_added_by_hand(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    ok(cli("apply", FAQ))
    radius = OutsideCA.make("Campus RADIUS", intermediate=False)
    pem = radius.root.public_bytes(serialization.Encoding.PEM)
    f = write(tmp_path / "radius-root.pem", pem)
    ok(cli("trust", "add", "cam-a", f))
    rows = [line for line in ok(cli("status")).out.splitlines() if " trust-root " in line]
    mine = [line for line in rows if "radius-root.pem" in line]
    assert len(mine) == 1, rows
    assert "Campus RADIUS Root" in mine[0]
    # still the administrator's own entry: a prune keeps it
    ok(cli("trust", "apply", "--prune"))
    assert "Campus RADIUS Root" in ok(cli("trust", "list", "cam-a")).out
