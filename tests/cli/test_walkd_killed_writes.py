"""Walkthrough D: a ccapki killed between writing a file and renaming it leaves nothing for good.

Every output file is written to a temporary file beside it, fsynced, then renamed. A
``kill -9`` landing between the write and the rename left that temporary file for ever: a
hidden ``.cam.pem.XXXX.tmp`` holding the private key in clear (and no audit row: the
export's transaction never committed), a ``.b.backup.XXXX.tmp`` the size of a backup. The
next write of the same path now removes what a killed ccapki left for it (never a file of a
live process). The kill is placed exactly: the child's ``os.replace`` sends it SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, ok
from kit.pgmode import BACKEND, store_url

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}

#: ccapki in a child whose first rename (the output file's) kills it, as kill -9 would
_KILLED_AT_RENAME = """
import os, signal, sys
def killed(src, dst, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
os.replace = killed
from ccapki.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _killed_at_rename(home: Path, *args: str) -> None:
    env = {**os.environ, **PASS}
    if BACKEND == "postgresql":  # the store of home: its schema
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    p = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_RENAME, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert p.returncode == -signal.SIGKILL, p.stderr


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("name", "args", "secret"),
    [
        ("cam.pem", ("export", "cam", "--out"), b"PRIVATE KEY"),
        ("b.backup", ("backup", "create", "--out"), b"CCAPKIBK"),
    ],
)
def test_what_a_killed_write_left_goes_at_the_next(
    cli: CliRunner,
    keyfile_store: Path,
    tmp_path: Path,
    name: str,
    args: tuple[str, ...],
    secret: bytes,
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "out"
    out.mkdir()
    target = out / name

    _killed_at_rename(keyfile_store, *args, str(target))
    assert not target.exists()
    (left,) = _temps(out)  # the killed run's file, complete but never renamed
    assert secret in left.read_bytes()
    assert left.stat().st_mode & 0o777 == 0o600

    ok(cli(*args, target, env=PASS))  # the same command again
    assert target.exists()
    assert _temps(out) == []


def test_a_live_writers_temporary_file_is_kept(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    target = tmp_path / "cam.pem"
    # another process, alive (this test's parent: never this process), writing the same path
    theirs = tmp_path / f".cam.pem.p{os.getppid()}-abcd1234.tmp"
    theirs.write_bytes(b"in progress")
    unrelated = tmp_path / ".cam.pem.tmp"  # not named by ccapki: never touched
    unrelated.write_bytes(b"x")
    ok(cli("export", "cam", "--out", target))
    assert theirs.read_bytes() == b"in progress"
    assert unrelated.exists()
