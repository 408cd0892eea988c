"""Walkthrough D, "the bad day": a store damaged under its owner says so, never exit 70.

- The store's keyring record (the wrapped data key in the ``meta`` table) with changed bytes:
  every command that opens a key (``export``, ``backup create``, ``apply``) stopped with
  exit 70 (``JSONDecodeError``), and so did ``doctor``; now an error naming the record and
  the restore, and ``doctor`` reports it as a problem (exit 1).
- A ``ccapki.db`` cut short (``truncate -s 100000``): ``status``, ``export`` and ``backup
  restore`` said "is not a ccapki store (DatabaseError)" with the hint "point --home at a
  folder made by ccapki init": it is the store, damaged; now said so, with the restore into a
  new store.
- A disk that fills up (or a file-size limit) under ``apply``: exit 70
  (``OperationalError: database or disk is full`` / ``disk I/O error``); now an error saying
  the disk is full and nothing is half-written, and the next run (with room) finishes.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ccapki._util import sqlite_trouble
from ccapki.cli.app import database_trouble
from kit.cli import FAQ, Cli, error_with_hint, ok

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))


def _damage_keyring_record(home: Path) -> None:
    con = sqlite3.connect(home / "ccapki.db")
    try:
        (value,) = con.execute("SELECT value FROM meta WHERE key = 'keyring'").fetchone()
        # bytes changed in the middle of the JSON (as a flipped byte on disk does)
        con.execute(
            "UPDATE meta SET value = ? WHERE key = 'keyring'", (value[:8] + "\x1f" + value[9:],)
        )
        con.commit()
    finally:
        con.close()


@pytest.mark.sqlite_only  # the SQLite file is changed under the store
def test_a_damaged_keyring_record_is_an_error_with_the_restore(
    cli: Cli, keyfile_store: Path
) -> None:
    ok(cli("apply", str(FAQ)))
    _damage_keyring_record(keyfile_store)

    for args in (
        ("export", "cam", "--out", str(keyfile_store.parent / "cam.pem")),
        ("apply", str(FAQ)),
    ):
        r = error_with_hint(cli(*args))
        assert "keyring record" in r.err, r.err
        assert "is damaged" in r.err, r.err
        assert "backup restore" in r.err, r.err
    assert not (keyfile_store.parent / "cam.pem").exists()

    r = cli("doctor")
    assert r.code == 1, r.both
    assert "keyring record" in r.out + r.err, r.both


@pytest.mark.sqlite_only  # a SQLite file cut short
def test_a_truncated_database_is_said_damaged_not_another_programs(
    cli: Cli, keyfile_store: Path
) -> None:
    ok(cli("apply", str(FAQ)))
    db = keyfile_store / "ccapki.db"
    os.truncate(db, 100_000)

    for args in (("status",), ("export", "cam", "--out", str(keyfile_store.parent / "c.pem"))):
        r = error_with_hint(cli(*args))
        assert "is damaged" in r.err, r.err
        assert "not a ccapki store" not in r.err, r.err
        assert "--home NEWDIR backup restore FILE" in r.err, r.err
    assert db.stat().st_size == 100_000  # never written


def test_a_full_database_is_the_disk_not_a_bug() -> None:
    """SQLite's own "database or disk is full" (a real one: max_page_count reached) is the
    machine's state: an error with a hint, not exit 70."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (x BLOB)")
    con.execute("PRAGMA max_page_count = 2")  # the table's page and no other
    with pytest.raises(sqlite3.OperationalError) as caught:
        con.execute("INSERT INTO t VALUES (?)", (b"x" * 65536,))
    con.close()
    assert sqlite_trouble(caught.value) == ("full", "database or disk is full")
    error = database_trouble(caught.value)
    assert error is not None
    assert error.exit_code == 2
    assert "nothing half-written" in error.message
    assert "make room" in error.hint


def _limited(limit: int) -> None:
    """In the child: writes past ``limit`` bytes of any file fail (as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.sqlite_only  # the SQLite file's writes fail
def test_apply_on_a_full_disk_stops_cleanly_and_a_second_run_finishes(
    cli: Cli, keyfile_store: Path
) -> None:
    assert EXE is not None
    p = subprocess.run(
        [EXE, "--home", str(keyfile_store), "apply", str(FAQ)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        preexec_fn=lambda: _limited(64 * 1024),
        timeout=300,
        check=False,
    )
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[-2].startswith("error: the store's database could not be written"), p.stderr
    assert "nothing half-written" in lines[-2]
    assert lines[-1].startswith("hint: make room")
    assert "Traceback" not in p.stderr
    assert "internal error" not in p.stderr

    r = cli("doctor")  # whatever an earlier batch committed is whole
    assert r.code == 0, r.both
    ok(cli("apply", str(FAQ)))  # room again: it finishes
    assert cli("doctor").code == 0
