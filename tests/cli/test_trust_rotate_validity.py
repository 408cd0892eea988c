"""`trust plan --rotate ... --to-source S` previews the certificate S really gets.

Found in a new administrator's walkthrough: on a 4.7.2 internal deployment, `ccapki trust
plan --rotate cam --to-source self-signed` previewed the new certificate as expiring in 397
days (the internal CA's validity), while the apply after changing the file issued it for
90 (4.7.x's self-signed validity). The preview now takes the validity the plan gives that
source (one function, :func:`ccapki.topology.plan.validity_days_for`), in the CLI and in
``ccapki.rotation_what_if``.
"""

from __future__ import annotations

import re
from pathlib import Path

import ccapki
from ccapki.store import Store
from kit.certs import NOW
from kit.cli import Cli, ok, write

INTERNAL = """\
[deployment]
name = "adopt"
release = "4.7.2"
organization = "Adopt"
source = "internal"
[cam]
name = "cam"
hostname = "cam.ad.edu"
ip = "10.7.0.1"
[[cas]]
name = "cas1"
hostname = "cas1.ad.edu"
ip = "10.7.0.2"
"""

PREVIEW = re.compile(r"\[a new certificate, made when you rotate: expires (\d{4}-\d\d-\d\d)\]")


def test_the_rotation_preview_expires_when_the_rotated_certificate_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    internal = write(tmp_path / "a.toml", INTERNAL)
    applied = ok(cli("apply", internal)).out
    (internal_until,) = set(re.findall(r"issued cam v1 \(expires (\S+)\)", applied))

    r = ok(cli("trust", "plan", "--rotate", "cam", "--to-source", "self-signed"))
    previewed = set(PREVIEW.findall(r.out))
    dep = ccapki.load_deployment(internal)
    with Store.open(keyfile_store) as store:  # a key-file store: no passphrase
        _, steps = ccapki.rotation_what_if(store, dep, "cam", to_source="self-signed", now=NOW)
    api_previewed = {d for _, text in steps for d in PREVIEW.findall(text)}

    moved = write(tmp_path / "b.toml", INTERNAL.replace('"internal"', '"self-signed"'))
    r = ok(cli("apply", moved))
    (rotated_until,) = re.findall(r"reissued cam v2 \(expires (\S+)\)", r.out)
    assert previewed == api_previewed == {rotated_until}, (previewed, api_previewed, r.out)
    assert rotated_until != internal_until  # 90 days (4.7.2's), not the internal CA's 397
