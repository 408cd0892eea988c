"""A store folder this user may not write (mode bits, not a read-only mount): reading
commands read it; a reader of a 0400 ccapki.db leaves no log file that stops the next
write; a ccapki.db that is a folder is said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import StoreError
from ccapki.store import Store
from kit.cli import FAQ, Cli, error_with_hint, ok
from kit.readonly import run_mode_bits_hold

pytestmark = pytest.mark.sqlite_only  # a SQLite file's permissions


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


def test_reading_commands_read_a_folder_this_user_may_not_write(applied: Path) -> None:
    modes = {p: p.stat().st_mode & 0o777 for p in (applied, *applied.iterdir())}
    try:
        for p in modes:
            p.chmod(0o500 if p.is_dir() else 0o400)
        for args in (("status",), ("keys", "list"), ("trust", "check"), ("inspect", "cas-dorm")):
            done = run_mode_bits_hold(applied, *args)
            # was: "ccapki.db is not a ccapki store (OperationalError)"
            assert done.returncode in (0, 1), done.stderr
            assert "not a ccapki store" not in done.stderr, done.stderr
        done = run_mode_bits_hold(applied, "apply", str(FAQ))
        assert done.returncode == 2, done.stderr
        assert "is read-only" in done.stderr, done.stderr
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def test_a_reader_of_a_read_only_database_does_not_stop_the_next_write(applied: Path) -> None:
    db = applied / "ccapki.db"
    db.chmod(0o400)
    done = run_mode_bits_hold(
        applied, "status"
    )  # SQLite makes ccapki.db-shm/-wal 0400, as the file
    assert done.returncode in (0, 1), done.stderr
    db.chmod(0o600)
    done = run_mode_bits_hold(
        applied, "trust", "apply"
    )  # was exit 70: attempt to write a readonly database
    assert done.returncode == 0, done.stderr


def test_a_database_that_is_a_folder_is_said_so(cli: Cli, home: Path) -> None:
    (home / "ccapki.db").mkdir(parents=True)
    r = error_with_hint(cli("status"))  # the command line says it before opening
    assert "ccapki.db is a folder, not the store's database file" in r.err, r.both
    # and so does the Python API, in the same words
    with pytest.raises(StoreError, match=r"ccapki\.db is a folder, not the store's database file"):
        Store.open(home)


def test_a_store_another_program_holds_locked_is_busy_not_foreign(cli: Cli, applied: Path) -> None:
    import sqlite3

    con = sqlite3.connect(applied / "ccapki.db", isolation_level=None)
    try:
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
        con.execute("BEGIN EXCLUSIVE")
        con.execute("DELETE FROM audit WHERE 0")
        r = error_with_hint(cli("keys", "list"))
        assert "locked" in r.err, r.both
        assert "not a ccapki store" not in r.err, r.both
    finally:
        con.execute("ROLLBACK")
        con.close()
