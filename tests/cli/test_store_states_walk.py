"""Store-states walkthrough: a store another writer holds, a damaged SQLite file. A key
file or backup is never left behind by a command that then fails; a store's file at fault
is an ``error:`` with a ``hint:``, never exit 70 ("a ccapki bug")."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ccapki.store.session import Store
from kit.cli import FAQ, Cli, Result, error_with_hint, ok
from kit.readonly import run_mode_bits_hold
from kit.tools import need


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


def _gave_up(r: Result) -> Result:
    """``r`` stopped by another writer's lock: the waiting line, then error and hint."""
    assert r.code == 2, r.both
    assert "\nerror: another ccapki is writing to this store (waited " in r.err, r.both
    assert "\nhint: " in r.err, r.both
    assert "internal error" not in r.both
    return r


def _key_exports(store: Path) -> int:
    with Store.open(store) as s:
        return sum(1 for e in s.audit.log(1000) if e.action == "key-export")


def test_a_key_export_waits_for_another_writer_and_leaves_no_file(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cas-dorm.pem"
    before = _key_exports(applied)
    # another ccapki holds the store's write lock: the audit row could not be written, and
    # the key file written before it was left behind, unaudited (exit 70 after 5 s)
    with Store.open(applied) as other, other.transaction():
        _gave_up(cli("--wait", "0.3", "export", "cas-dorm", "--out", out))
    assert not out.exists()
    assert list(tmp_path.glob(".cas-dorm.pem.*")) == []
    assert _key_exports(applied) == before
    ok(cli("export", "cas-dorm", "--out", out))  # once the lock is free: file and row
    assert out.exists()
    assert _key_exports(applied) == before + 1


def test_a_certificate_export_needs_no_write_lock(cli: Cli, applied: Path, tmp_path: Path) -> None:
    out = tmp_path / "cas-dorm.crt"
    with Store.open(applied) as other, other.transaction():
        ok(cli("--wait", "0.3", "export", "cas-dorm", "--format", "cert", "--out", out))
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_backup_create_against_another_writer_leaves_no_backup(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    out = tmp_path / "store.backup"
    env: dict[str, str | None] = {"CCAPKI_BACKUP_PASSPHRASE": "backup passphrase 1"}
    with Store.open(applied) as other, other.transaction():
        _gave_up(cli("--wait", "0.3", "backup", "create", "--out", out, env=env))
    assert not out.exists()  # written, then the audit row failed: it was left there
    assert list(tmp_path.glob(".store.backup.*")) == []
    ok(cli("backup", "create", "--out", out, env=env))
    assert out.exists()


def _leaf_page(db: Path, table: str) -> int:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        try:
            row = con.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                (table,),
            ).fetchone()
        except sqlite3.OperationalError:  # a SQLite built without dbstat
            need("this SQLite has no dbstat table (Debian's python3 has it)")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
    finally:
        con.close()
    assert row is not None, table
    return (int(row[0]) - 1) * int(page_size)


@pytest.mark.sqlite_only  # a damaged SQLite file
def test_a_damaged_database_is_an_error_with_a_hint_not_exit_70(cli: Cli, applied: Path) -> None:
    db = applied / "ccapki.db"
    at = _leaf_page(db, "keys")
    with db.open("r+b") as f:  # the keys table's first leaf page: its header overwritten
        f.seek(at)
        f.write(b"\xde\xad\xbe\xef" * 4)
    for args in (("keys", "list"), ("status",), ("apply", str(FAQ))):
        r = error_with_hint(cli(*args))
        assert "damaged" in r.err, r.both
        assert "internal error" not in r.err, r.both
        assert "ccapki doctor" in r.err, r.both
    r = cli("watch", "--once", "--no-probe")  # one line, not a traceback per run
    assert r.code == 1, r.both
    assert "run failed: the store's database is damaged" in r.err, r.both
    assert "Traceback" not in r.err, r.both
    r = cli("status", "--nagios")  # UNKNOWN, in the store's words ("internal error" before)
    assert r.code == 3, r.both
    assert r.out.startswith("CCAPKI UNKNOWN - the store's database is damaged"), r.both


@pytest.mark.sqlite_only  # a damaged SQLite file
def test_doctor_reports_damage_the_integrity_check_does_not_see(
    cli: Cli, applied: Path, tmp_path: Path
) -> None:
    cert = tmp_path / "cas-dorm.crt"
    ok(cli("export", "cas-dorm", "--format", "cert", "--out", cert))
    line = cert.read_bytes().splitlines()[2]  # a base64 line of the stored PEM
    db = applied / "ccapki.db"
    data = db.read_bytes()
    at = data.index(line)
    with db.open("r+b") as f:  # two bytes of the text column that are not UTF-8
        f.seek(at + 10)
        f.write(b"\xff\xfe")
    r = cli("doctor")
    assert r.code == 1, r.both  # findings: exit 70 ("a ccapki bug") before
    assert "damaged" in r.out, r.both
    assert "internal error" not in r.both
    r = cli("doctor", "--json")
    assert r.code == 1, r.both
    assert "database-damaged" in {p["code"] for p in r.json()["problems"]}


@pytest.mark.sqlite_only  # SQLite URLs
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_url_is_refused(cli: Cli, home: Path, url: str) -> None:
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": url}
    # init said "created store", the next command found none, and the home kept an empty
    # ccapki.db (and data.key) that every later command called "not a ccapki store"
    r = error_with_hint(cli("init", "--key-file", env=env))
    assert "in-memory" in r.err, r.both
    assert not home.exists() or not any(home.iterdir())


@pytest.mark.sqlite_only  # SQLite URLs
def test_a_sqlite_url_whose_path_holds_a_question_mark_is_refused(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "a?b"
    folder.mkdir()
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": f"sqlite:///{folder}/s.db"}
    r = error_with_hint(cli("init", "--key-file", env=env))  # made the file tmp_path/"a"
    assert "%3F" in r.err, r.both
    assert not (tmp_path / "a").exists()
    assert list(folder.iterdir()) == []


@pytest.mark.sqlite_only  # SQLite URLs
def test_a_reading_command_makes_no_database_where_the_url_names_none(
    cli: Cli, tmp_path: Path
) -> None:
    db = tmp_path / "typo.db"
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": f"sqlite:///{db}"}
    for args in (("status",), ("keys", "list"), ("trust", "check")):
        r = error_with_hint(cli(*args, env=env))
        assert f"no ccapki store at {db}" in r.err, r.both
        assert not db.exists()  # an empty 0644 SQLite file was made there


def _without_write_permission(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """:func:`~kit.readonly.run_mode_bits_hold` with the store folder 0500 and its files 0400: an
    administrator's store a monitoring user may only read."""
    modes = {p: p.stat().st_mode & 0o777 for p in (home, *home.iterdir())}
    try:
        for p in modes:
            p.chmod(0o500 if p.is_dir() else 0o400)
        return run_mode_bits_hold(home, *args)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.mark.sqlite_only  # a SQLite file's permissions
def test_doctor_on_a_folder_this_user_may_not_write_says_read_only_not_damaged(
    applied: Path,
) -> None:
    # SQLite cannot make the log's index beside the file (SQLITE_READONLY_DIRECTORY):
    # doctor said "damaged: restore it from a backup" of a healthy store
    done = _without_write_permission(applied, "doctor")
    assert "read-only" in done.stdout + done.stderr, done.stdout + done.stderr
    assert "damaged" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.sqlite_only  # the key file of a SQLite store's folder
def test_a_data_key_this_user_may_not_read_is_an_error_with_a_hint(
    applied: Path, tmp_path: Path
) -> None:
    key = applied / "data.key"
    out = tmp_path / "cas-dorm.pem"
    key.chmod(0o000)
    try:
        done = run_mode_bits_hold(applied, "export", "cas-dorm", "--out", str(out))
    finally:
        key.chmod(0o600)
    assert done.returncode == 2, done.stderr  # exit 70, "a ccapki bug", before
    assert done.stderr.startswith(f"error: permission denied: {key}\nhint: "), done.stderr
    assert "internal error" not in done.stderr
    assert not out.exists()


@pytest.mark.sqlite_only  # a read-only SQLite store
def test_watch_refuses_a_read_only_store_at_start(applied: Path) -> None:
    from kit.readonly import run_read_only

    # every run writes (its record, notification state): each failed, logged, for ever
    r = run_read_only(applied, "watch", "--once", "--no-probe", timeout=60)
    assert r.code == 2, r.both
    assert r.err.startswith("error: the store at "), r.both
    assert "is read-only" in r.err, r.both
    assert "run failed" not in r.err, r.both


@pytest.mark.sqlite_only  # the store folder's database file
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_database_that_is_not_a_regular_file_is_said_so(home: Path, kind: str) -> None:
    home.mkdir(mode=0o700)
    db = home / "ccapki.db"
    if kind == "fifo":
        os.mkfifo(db)  # every command hung for ever, reading it
    else:
        db.mkdir()  # "not a ccapki store (OperationalError)"
    words = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    for args in (("status",), ("doctor",), ("init", "--key-file"), ("keys", "list")):
        try:
            done = subprocess.run(
                [sys.executable, "-m", "ccapki", "--home", str(home), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"ccapki {' '.join(args)} hung on a ccapki.db that is a {kind}")
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {db} is {words}, not the store's"), done.stderr
        assert "\nhint: move it away" in done.stderr, done.stderr


@pytest.mark.sqlite_only  # a read-only SQLite store
def test_serve_refuses_a_read_only_store_at_start(applied: Path) -> None:
    from kit.readonly import run_read_only

    # it started, then answered every request 500 "a ccapki bug" (a request writes its
    # token's last use)
    try:
        r = run_read_only(applied, "serve", "--listen", "127.0.0.1:0", "--no-tls", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("serve started on a read-only store")
    assert r.code == 2, r.both
    assert r.err.startswith("error: the store at "), r.both
    assert "is read-only" in r.err, r.both
