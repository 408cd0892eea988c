"""Folders ccapki makes for ``--out`` are never world-writable, whatever the umask
(walkthrough: under umask 000 ``export-roots --out out/r0`` made out/ and out/r0
drwxrwxrwx, the folder clients install root CAs from, while the files in it were 0644).
Each folder made is at most 0755 (a recovery kit's, holding keys, 0700); the umask may
take more away; a folder that exists keeps its mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kit.cli import Cli, deployment, ok, standalone, write

PW = {"CCAPKI_EXPORT_PASSWORD": "kitpass12"}
#: an internal CAM (roots to export, a kit to write) and a third-party CAS (a CSR)
DEP = deployment(name="modes", cas=[standalone("cas-x", "10.6.0.1", source="third-party")])


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path, tmp_path: Path) -> Path:
    ok(cli("apply", write(tmp_path / "d.toml", DEP)))
    return keyfile_store


def test_folders_made_under_umask_000_are_not_world_writable(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    out, deep = tmp_path / "out", tmp_path / "deep"
    old = os.umask(0)
    try:
        ok(cli("export-roots", "--out", out / "r0"))
        ok(cli("csr", "cas-x", "--out", out / "csr0"))
        ok(cli("backup", "appliance", "cam", "--out", deep / "k", env=PW))
    finally:
        os.umask(old)
    modes = {p: _mode(p) for p in (out, out / "r0", out / "csr0", deep, deep / "k")}
    assert modes == {
        out: 0o755,
        out / "r0": 0o755,
        out / "csr0": 0o755,
        deep: 0o755,
        deep / "k": 0o700,  # the kit holds the private key
    }, {str(p): oct(m) for p, m in modes.items()}
    # the files in them as ever
    assert _mode(out / "r0" / "ccapki-roots.pem") == 0o644
    assert _mode(out / "csr0" / "cas-x.csr") == 0o644
    assert _mode(deep / "k" / "cam.p12") == 0o600


def test_an_existing_folder_keeps_its_mode(cli: Cli, applied: Path, tmp_path: Path) -> None:
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    shared.mkdir()
    shared.chmod(0o1777)  # the administrator's choice, left alone
    mine.mkdir()
    mine.chmod(0o711)
    old = os.umask(0)
    try:
        ok(cli("export-roots", "--out", shared))
        ok(cli("backup", "appliance", "cam", "--out", mine, env=PW))
    finally:
        os.umask(old)
    assert _mode(shared) == 0o1777
    assert _mode(mine) == 0o711


def test_a_stricter_umask_takes_more_away(cli: Cli, applied: Path, tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        ok(cli("export-roots", "--out", tmp_path / "a" / "r"))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "r") == 0o700


def test_make_folders_makes_what_is_missing_only(tmp_path: Path) -> None:
    from ccapki.fsutil import make_folders

    old = os.umask(0)
    try:
        (tmp_path / "a").mkdir(mode=0o777)
        made = make_folders(tmp_path / "a" / "b" / "c", private=True)
    finally:
        os.umask(old)
    assert made == [tmp_path / "a" / "b" / "c", tmp_path / "a" / "b"]
    assert _mode(tmp_path / "a") == 0o777  # there before: as it was
    assert _mode(tmp_path / "a" / "b") == 0o755
    assert _mode(tmp_path / "a" / "b" / "c") == 0o700
    assert make_folders(tmp_path / "a" / "b" / "c") == []
