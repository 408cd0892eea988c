"""Walkthrough: ``ccapki backup appliance`` over an existing kit, failing part-way.

:func:`~ccapki.lifecycle.backups.write_recovery_kit` used to write the kit's files one by
one and, when one failed, delete the ones it had written: files that had replaced an
existing kit's were lost. It is all or nothing now: a failure leaves every file of the
kit written before byte for byte as it was, no temporary file and no audit row.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccapki.store import Store
from kit.cli import FAQ, CliRunner, error_with_hint, ok
from kit.tools import need, require_tool

PW = {"CCAPKI_EXPORT_PASSWORD": "kit password"}
FILES = ("cas-dorm-upload.pem", "cas-dorm.p12", "trusted-ca-1.pem", "README.txt")
EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


@pytest.fixture
def old_kit(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> Path:
    """The FAQ applied, cas-dorm's kit written, then cas-dorm renewed (a new kit differs)."""
    ok(cli("apply", FAQ))
    kit = tmp_path / "kit"
    ok(cli("backup", "appliance", "cas-dorm", "--out", kit, env=PW))
    assert sorted(p.name for p in kit.iterdir()) == sorted(FILES)
    ok(cli("renew", "cas-dorm", "--commit"))
    return kit


def _audit_rows(home: Path) -> int:
    with Store.open(home) as store:
        return len(store.audit.log(10_000))


def test_a_file_that_cannot_be_replaced_leaves_the_old_kit_as_it_was(
    cli: CliRunner, old_kit: Path, home: Path
) -> None:
    # README.txt, written last, is now a folder: it cannot be replaced by a file
    (old_kit / "README.txt").unlink()
    (old_kit / "README.txt").mkdir()
    before = {n: (old_kit / n).read_bytes() for n in FILES[:3]}
    modes = {n: (old_kit / n).stat().st_mode for n in FILES[:3]}
    rows = _audit_rows(home)
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", old_kit, env=PW))
    assert "README.txt is a folder, not a regular file" in r.err, r.err
    assert {n: (old_kit / n).read_bytes() for n in FILES[:3]} == before
    assert {n: (old_kit / n).stat().st_mode for n in FILES[:3]} == modes
    assert (old_kit / "README.txt").is_dir()
    assert sorted(p.name for p in old_kit.iterdir()) == sorted(FILES)  # no temporary file
    assert _audit_rows(home) == rows  # nothing logged: nothing was exported
    # once the folder is out of the way the kit is written whole, the new version's
    (old_kit / "README.txt").rmdir()
    assert "cas-dorm v2" in ok(cli("backup", "appliance", "cas-dorm", "--out", old_kit, env=PW)).out
    assert (old_kit / "cas-dorm-upload.pem").read_bytes() != before["cas-dorm-upload.pem"]
    assert (old_kit / "cas-dorm.p12").stat().st_mode & 0o777 == 0o600
    assert (old_kit / "trusted-ca-1.pem").stat().st_mode & 0o777 == 0o644


def test_a_full_file_system_leaves_the_old_kit_as_it_was(
    old_kit: Path, home: Path, tmp_path: Path
) -> None:
    """A real full disk: the kit folder on a small tmpfs (in a mount namespace of the
    test's own) with room for about two of the new files. The new kit's files are all
    written before any replaces an old one, so it fails (ENOSPC, with the hint to free
    space) and the old kit is left byte for byte, with no temporary file."""
    if os.geteuid() != 0:
        need("mounting a tmpfs needs root (the other test fails the kit part-way)")
    unshare = require_tool("unshare")
    assert EXE is not None
    before = {n: (old_kit / n).read_bytes() for n in FILES}
    rows = _audit_rows(home)
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = r"""
set -e
mount -t tmpfs -o size=128k tmpfs "$MNT"
mkdir -m 0700 "$MNT/kit"
cp -p "$OLD"/* "$MNT/kit/"
avail=$(df --output=avail -B1 "$MNT" | tail -n 1)
head -c $((avail - 8192)) /dev/zero > "$MNT/filler"
set +e
"$EXE" --home "$HOME_DIR" backup appliance cas-dorm --out "$MNT/kit"
echo "rc=$?"
cd "$MNT/kit" && for f in $(ls -A); do echo "file=$f $(sha256sum < "$f" | cut -c1-64)"; done
"""
    env = {**os.environ, **PW, "MNT": str(mnt), "OLD": str(old_kit), "EXE": EXE}
    env["HOME_DIR"] = str(home)
    r = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "rc=2" in r.stdout, (r.stdout, r.stderr)
    assert "No space left on device" in r.stderr, r.stderr
    assert "hint: free space" in r.stderr, r.stderr
    seen = dict(
        line.removeprefix("file=").split() for line in r.stdout.splitlines() if line[:5] == "file="
    )
    assert seen == {n: hashlib.sha256(data).hexdigest() for n, data in before.items()}
    assert _audit_rows(home) == rows
