"""Walkthrough G: ``export-roots --out DIR`` on a full disk left the empty DIR it had made
(and its parents). Now a folder the command made is removed when it fails; one that was
there stays. The full disk is a file-size limit (RLIMIT_FSIZE) in the child."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, ok

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


def _limited() -> None:
    """In the child: no file can grow (as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@contextlib.contextmanager
def _store_held_open(home: Path) -> Iterator[None]:
    """A reader of the store's database held open, so its ``-wal`` and ``-shm`` files are
    there at their size and the child reads the store under the limit (with none, SQLite
    cannot make them: the open fails before the command writes anything)."""
    con = sqlite3.connect(home / "ccapki.db")
    try:
        con.execute("SELECT count(*) FROM certificates").fetchall()
        yield
    finally:
        con.close()


def _export_roots(home: Path, out: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    return subprocess.run(
        [EXE, "--home", str(home), "export-roots", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limited,
        timeout=300,
        check=False,
    )


@pytest.mark.sqlite_only  # reads a SQLite store under the limit
def test_export_roots_on_a_full_disk_removes_the_folder_it_made(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "new" / "roots"
    there = tmp_path / "there"
    there.mkdir()
    with _store_held_open(keyfile_store):
        p = _export_roots(keyfile_store, out)
        assert p.returncode == 2, p.stderr
        assert "nothing was written" in p.stderr, p.stderr
        assert not (tmp_path / "new").exists(), "the failed export-roots left its folder"

        p = _export_roots(keyfile_store, there)
        assert p.returncode == 2, p.stderr
    assert there.is_dir()  # a folder it did not make stays
    assert not any(there.iterdir())

    ok(cli("export-roots", "--out", out))  # room again
    assert (out / "ccapki-roots.pem").is_file()
