"""`ccapki upgrade`'s copy of a SQLite store is the store as it was just before the
migration (walkthrough J: an administrator upgrading a store used for months).

The copy was taken before the migration's write lock: a write that the ccapki which made
the store committed while the upgrade waited for it (its `renew --commit` from cron) was
in the upgraded store but not in the copy, so going back to that release lost it. A store
named by a ``sqlite:///`` CCAPKI_DATABASE_URL was migrated with no copy at all, "a
database server's store". On PostgreSQL, where no copy is kept, the refusal's hint said
`ccapki upgrade` "keeps a copy of the store as it was": it names the pg_dump to run first.
`ccapki --wait N upgrade` waited 60 s, silently, whatever N; a migration that refused the
store's rows ("nothing was changed") left its copy behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, make_url

from ccapki.store import schema as t
from kit.certs import NOW
from kit.cli import FAQ, Cli, db_bytes, error_with_hint
from kit.migrations import alembic_to
from kit.tools import clean_pg_url

OLD = "0009_deployment_facts"


def _to_old(url: str) -> None:
    engine = create_engine(url)
    try:
        alembic_to(engine, OLD, up=False)
    finally:
        engine.dispose()


def _audit_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return int(con.execute("SELECT count(*) FROM audit").fetchone()[0])


def _has_open(pid: int, db: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(db.resolve()) for fd in fds.iterdir())
    except OSError:
        return False


@pytest.mark.sqlite_only  # the SQLite file's copy
def test_the_copy_holds_a_write_committed_while_the_upgrade_waited(
    cli: Cli, keyfile_store: Path
) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see the upgrade open the store")
    assert cli("apply", FAQ).code == 0
    db = keyfile_store / "ccapki.db"
    _to_old(f"sqlite:///{db}")
    rows = _audit_rows(db)
    # the ccapki that made the store writes (an audit row), holding the write lock
    writer = sqlite3.connect(db, isolation_level=None)
    cols = ", ".join(r[1] for r in writer.execute("PRAGMA table_info(audit)") if r[1] != "id")
    writer.execute("BEGIN IMMEDIATE")
    last = "FROM audit ORDER BY id DESC LIMIT 1"
    writer.execute(f"INSERT INTO audit ({cols}) SELECT {cols} {last}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccapki", "--home", str(keyfile_store), "upgrade"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the upgrade has opened the store, then waits for the writer (or copied already)
        while not _has_open(proc.pid, db) and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1)
    finally:
        writer.execute("COMMIT")
        writer.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert _audit_rows(db) == rows + 1
    (copy,) = [p for p in keyfile_store.glob(f"ccapki.db.{OLD}.*") if p.suffix != ".part"]
    assert str(copy) in out
    assert _audit_rows(copy) == rows + 1  # was rows: the write missing from the copy
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)


@pytest.mark.sqlite_only  # the SQLite file's copy
def test_a_sqlite_url_store_keeps_its_copy(cli: Cli, home: Path, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "pki.db"
    db.parent.mkdir(mode=0o700)
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": f"sqlite:///{db}"}
    assert cli("init", "--key-file", env=env).code == 0
    assert cli("apply", FAQ, env=env).code == 0
    _to_old(f"sqlite:///{db}")
    r = cli("upgrade", env=env)
    assert r.code == 0, r.both
    assert f"from schema {OLD} to {t.SCHEMA_HEAD}" in r.out
    (copy,) = db.parent.glob(f"pki.db.{OLD}.*")
    assert str(copy) in r.out
    assert "no copy kept" not in r.out
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)
        assert con.execute("SELECT count(*) FROM certificates").fetchone() == (6,)
    assert cli("doctor", env=env).code == 0


def test_on_postgresql_the_hint_names_the_pg_dump_to_run_first(cli: Cli, home: Path) -> None:
    url = clean_pg_url()
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": url}
    assert cli("init", "--key-file", env=env).code == 0
    assert cli("apply", FAQ, env=env).code == 0
    _to_old(url)
    plain = make_url(url)
    dump = f"pg_dump postgresql://{plain.username}@{plain.host}"
    r = cli("status", env=env)
    error_with_hint(r)
    assert dump in r.err, r.err
    assert f"> ccapki-{OLD}.sql`" in r.err
    assert "keeps a copy" not in r.err  # was: "(it keeps a copy of the store as it was)"
    assert f":{plain.password}@" not in r.err
    d = cli("doctor", env=env)
    assert d.code == 1
    assert dump in d.out
    assert "keeps a copy" not in d.out
    up = cli("upgrade", env=env)
    assert up.code == 0, up.both
    assert "no copy kept" in up.out
    assert cli("doctor", env=env).code == 0


@pytest.mark.sqlite_only  # SQLite's write lock held by another program
def test_upgrade_waits_as_long_as_wait_says_and_says_so(cli: Cli, keyfile_store: Path) -> None:
    db = keyfile_store / "ccapki.db"
    _to_old(f"sqlite:///{db}")
    args = ["-m", "ccapki", "--home", str(keyfile_store), "--wait", "1", "upgrade"]
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another ccapki writing (the one that made the store)
    try:
        proc = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    # was: --wait ignored, 60 s of silence
    assert "waiting (up to 1 s)" in proc.stderr, proc.stderr
    assert "gave up waiting" in proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(keyfile_store.glob("ccapki.db.0*"))  # nothing was changed
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)


@pytest.mark.sqlite_only  # the SQLite file's copy
def test_a_refused_migration_leaves_no_copy_behind(cli: Cli, keyfile_store: Path) -> None:
    db = keyfile_store / "ccapki.db"
    engine = create_engine(f"sqlite:///{db}")
    try:
        alembic_to(engine, "0005_inventory", up=False)
        with engine.begin() as conn:  # names 0006 refuses (a store made in between)
            for name in ("dave", "Dave"):
                conn.execute(insert(t.users), {"name": name, "role": "admin", "created_at": NOW})
    finally:
        engine.dispose()
    before = db_bytes(keyfile_store)
    r = error_with_hint(cli("upgrade"))
    assert "nothing was changed" in r.err
    assert db_bytes(keyfile_store) == before
    assert sorted(p.name for p in keyfile_store.iterdir()) == ["ccapki.db", "data.key"]
