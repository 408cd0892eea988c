"""A reader closing its connection after ``ccapki.db`` was replaced merges nothing into it.

The worry: a reader (``ccapki status``, the service) holds the store open; the file is
replaced meanwhile (a new file renamed over ``ccapki.db``, its ``-wal`` with it); the
reader, the last connection of the old file, closes, and SQLite's close-time checkpoint
merges the old write-ahead log and deletes ``ccapki.db-wal`` by its name: the new file's
log, holding its last commits.

It cannot happen. ccapki never renames a file over its database (a restore writes rows in
one transaction into the file as it is; ``upgrade`` migrates the file in place after
copying it aside with SQLite's backup API): the first test proves the file stays the
same inode through both. And a file renamed over it by hand (``mv``) is safe from the
reader: SQLite's close-time checkpoint runs only when the database file at the path is
still the one the connection opened (``databaseIsUnmoved``, unix VFS
``SQLITE_FCNTL_HAS_MOVED``), and it writes through the old file's descriptor, never the
new file. The second test proves it with two real processes, and that without the
replacement the same close does checkpoint (so the first half is not vacuous).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, ok
from kit.migrations import downgrade_store

pytestmark = pytest.mark.sqlite_only  # the store's SQLite file and its write-ahead log

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}
RENEW_CAM = ("renew", "cam", "--commit")

#: a reader in its own process, as `ccapki status` and the service read: the store opened,
#: a read (its pooled connection stays open), then closed when told to
_READER = """
import sys
from pathlib import Path
from ccapki.store import Store
store = Store.open(Path(sys.argv[1]))
print(store.count("certificates"), flush=True)
sys.stdin.readline()
store.close()
print("closed", flush=True)
"""


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def test_ccapki_never_renames_a_file_over_its_database(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    db = keyfile_store / "ccapki.db"
    ok(cli("apply", FAQ))
    archive = tmp_path / "b.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    inode = db.stat().st_ino
    ok(cli("renew", "cam", "--commit"))
    ok(cli("backup", "restore", archive, "--force", env=PASS))  # a full restore, forced
    assert db.stat().st_ino == inode
    downgrade_store(keyfile_store, "0008_pkcs11")
    ok(cli("upgrade"))  # an older store migrated (its copy kept beside it)
    assert db.stat().st_ino == inode


def _store_with_commits_in_its_log(cli: Cli, home: Path, into: Path) -> tuple[Path, bytes]:
    """Another store whose last commits are in its write-ahead log only, copied (file and
    log) to ``into``; returns the copy and its log's bytes."""
    ok(cli("init", "--key-file", home_dir=home))
    holder = sqlite3.connect(home / "ccapki.db")  # holds the log: no checkpoint at close
    try:
        holder.execute("SELECT count(*) FROM meta").fetchall()
        ok(cli("apply", FAQ, home_dir=home))
        shutil.copy(home / "ccapki.db", into)
        shutil.copy(home / "ccapki.db-wal", into.with_name(into.name + "-wal"))
    finally:
        holder.close()
    log = into.with_name(into.name + "-wal").read_bytes()
    assert log, "the new store's commits are not in its log"
    return into, log


@pytest.mark.parametrize("replaced", [True, False], ids=["replaced", "same-file"])
def test_a_reader_closing_after_the_file_was_replaced_merges_nothing_into_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path, replaced: bool
) -> None:
    db = keyfile_store / "ccapki.db"
    wal = db.with_name("ccapki.db-wal")
    ok(cli("apply", FAQ))
    with subprocess.Popen(
        [sys.executable, "-c", _READER, str(keyfile_store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as reader:
        try:
            assert reader.stdout is not None
            assert reader.stdin is not None
            assert int(reader.stdout.readline()) > 0
            # another process writes while the reader holds the file: its commits stay in
            # the log (the writer's close is not the last, so it does not checkpoint)
            writer = subprocess.run(
                [sys.executable, "-m", "ccapki", "--home", str(keyfile_store), *RENEW_CAM],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert writer.returncode == 0, writer.stderr
            assert wal.stat().st_size > 0
            if replaced:
                new, log = _store_with_commits_in_its_log(cli, tmp_path / "b", tmp_path / "new.db")
                # (read from the other store itself: opening the copy would merge its log)
                expect = _rows(tmp_path / "b" / "ccapki.db", "SELECT value FROM meta ORDER BY key")
                certs = _rows(tmp_path / "b" / "ccapki.db", "SELECT count(*) FROM certificates")
                os.replace(new, db)  # the new file renamed over the store's, its log with it
                os.replace(new.with_name("new.db-wal"), wal)
                db.with_name("ccapki.db-shm").unlink()
            reader.stdin.write("\n")
            reader.stdin.flush()
            assert reader.stdout.readline().strip() == "closed"
            assert reader.wait(timeout=60) == 0
        finally:
            if reader.poll() is None:
                reader.kill()

    if replaced:
        assert wal.read_bytes() == log  # not merged, not deleted: the new file's own log
        assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
        assert _rows(db, "SELECT value FROM meta ORDER BY key") == expect
        assert _rows(db, "SELECT count(*) FROM certificates") == certs != [(0,)]
    else:  # the control: the same close checkpoints the log of a file still in place
        assert not wal.exists() or wal.stat().st_size == 0
        assert _rows(db, "SELECT max(version) FROM certificates WHERE identity = 'cam'") == [(2,)]
