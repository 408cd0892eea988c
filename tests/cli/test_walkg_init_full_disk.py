"""Walkthrough G: ``ccapki init`` on a full disk.

It said "the change under way was rolled back (nothing half-written: the store is whole);
`ccapki doctor` checks the store" although no store was made (or, when the disk filled up
inside a migration, "internal error ... no such table: _alembic_tmp_certificates", exit
70), and left the empty 0700 folder it had made. Now it says nothing was created and
removes what it made. The full disk is a file-size limit (RLIMIT_FSIZE) in the child.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


def _limited(limit: int) -> None:
    """In the child: writes past ``limit`` bytes of any file fail (as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _init(home: Path, key_file: bool, limit: int | None) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env["CCAPKI_PASSPHRASE"] = "a long enough passphrase"
    return subprocess.run(
        [EXE, "--home", str(home), "init", *(["--key-file"] if key_file else [])],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=None if limit is None else (lambda: _limited(limit)),
        timeout=300,
        check=False,
    )


@pytest.mark.sqlite_only  # the SQLite file's writes fail
@pytest.mark.parametrize(
    ("key_file", "limit"),
    [(False, 0), (True, 20_000), (False, 60_000)],
    ids=["passphrase-nothing-fits", "key-file-db-full", "passphrase-full-in-migration"],
)
def test_init_on_a_full_disk_says_nothing_was_created_and_leaves_nothing(
    tmp_path: Path, key_file: bool, limit: int
) -> None:
    home = tmp_path / "new" / "store"
    p = _init(home, key_file, limit)
    assert p.returncode == 2, p.stderr
    error, hint = p.stderr.strip().splitlines()
    assert error.startswith(f"error: cannot create the store in {home}"), error
    assert error.endswith("nothing was created"), error
    assert "the store is whole" not in error, error
    assert "doctor" not in hint, hint
    assert "ccapki init" in hint, hint
    assert not (tmp_path / "new").exists()  # neither the store folder nor its parent

    p = _init(home, key_file, None)  # room again: init works
    assert p.returncode == 0, p.stderr


@pytest.mark.sqlite_only
def test_init_on_a_full_disk_keeps_a_folder_it_did_not_make(tmp_path: Path) -> None:
    home = tmp_path / "store"
    home.mkdir(mode=0o700)
    (home / "notes.txt").write_text("mine\n")
    p = _init(home, True, 20_000)
    assert p.returncode == 2, p.stderr
    assert sorted(x.name for x in home.iterdir()) == ["notes.txt"]
