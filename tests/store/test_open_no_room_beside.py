"""Reading a store when nothing can be written beside its database (a file-size limit of
0, as on a full disk): SQLite cannot make the -shm/-wal files it reads a WAL store
through. It said "ccapki.db is not a ccapki store (OperationalError)", sending the
administrator to another folder or a backup; it says what it is, with the fix."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, ok

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


def _no_file_may_grow() -> None:
    """In the child: every write to a file fails (EFBIG), as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@pytest.mark.sqlite_only  # the SQLite file's -shm and -wal
@pytest.mark.parametrize("args", [["status"], ["keys", "list"], ["inspect", "cas-dorm"]])
def test_reading_a_store_with_no_room_beside_it_says_so(
    cli: Cli, keyfile_store: Path, args: list[str]
) -> None:
    assert EXE is not None
    ok(cli("apply", str(FAQ)))
    for side in ("ccapki.db-shm", "ccapki.db-wal"):  # as after the last ccapki closed it
        (keyfile_store / side).unlink(missing_ok=True)
    before = (keyfile_store / "ccapki.db").read_bytes()
    p = subprocess.run(
        [EXE, "--home", str(keyfile_store), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        preexec_fn=_no_file_may_grow,
        timeout=120,
        check=False,
    )
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert "not a ccapki store" not in p.stderr, p.stderr
    assert lines[-2].startswith("error: cannot write beside the store's database"), p.stderr
    assert "the disk is full or a file-size limit" in lines[-2]
    assert lines[-1].startswith("hint: make room on the disk of"), p.stderr
    assert "ulimit -f unlimited" in lines[-1]
    assert "Traceback" not in p.stderr
    assert (keyfile_store / "ccapki.db").read_bytes() == before  # nothing changed
    assert cli("status").code in (0, 1)  # room again: it reads


@pytest.mark.sqlite_only  # the SQLite file's -shm and -wal
def test_doctor_with_no_room_beside_the_store_does_not_call_it_damaged(
    cli: Cli, keyfile_store: Path
) -> None:
    assert EXE is not None
    ok(cli("apply", str(FAQ)))
    for side in ("ccapki.db-shm", "ccapki.db-wal"):
        (keyfile_store / side).unlink(missing_ok=True)
    p = subprocess.run(
        [EXE, "--home", str(keyfile_store), "doctor", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        preexec_fn=_no_file_may_grow,
        timeout=120,
        check=False,
    )
    assert p.returncode == 1, p.stderr
    codes = [q["code"] for q in json.loads(p.stdout)["problems"]]
    assert "database-damaged" not in codes, p.stdout  # was: "restore it from a backup"
    (q,) = [q for q in json.loads(p.stdout)["problems"] if q["code"] == "database-no-room"]
    assert "the disk is full or a file-size limit" in q["message"]
    assert "ulimit -f unlimited" in q["fix"]
    assert cli("doctor").code == 0  # room again: healthy
