"""The store's SQLite file: where it is, and its pages.

A store folder whose path a URL would read otherwise: ``?`` (a query), ``#`` (a
fragment), ``%20`` (an escape), spaces. The store's SQLite file is the folder's, by its
path: `init` of ``/tmp/w2 ?x/h`` wrote its database to ``/tmp/w2 `` (SQLAlchemy read the
path as ``sqlite:///`` URL) and left the folder with a data.key and no database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import ccapki.store.session as store_session
from ccapki.home import DB_NAME
from ccapki.store import Store
from kit.cli import FAQ, Cli

pytestmark = pytest.mark.sqlite_only  # the store's own SQLite file

ODD = ["a?b", "x#1", "50%20", "sp ace", "q?mode=ro&x#y"]


@pytest.mark.parametrize("name", ODD)
def test_init_and_open_keep_the_database_in_the_folder(tmp_path: Path, name: str) -> None:
    parent = tmp_path / name
    parent.mkdir()
    home = parent / "h"
    Store.init(home, key_file=True).close()
    assert sorted(p.name for p in home.iterdir()) == [DB_NAME, "data.key"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing beside it
    assert sorted(p.name for p in parent.iterdir()) == ["h"]
    with Store.open(home) as store:
        store.audit.record("test", "odd path")  # the engine writes it...
        assert store.count("audit") == 2
    con = sqlite3.connect(home / DB_NAME)  # ...into the folder's file
    try:
        assert con.execute("SELECT count(*) FROM audit").fetchone() == (2,)
    finally:
        con.close()


@pytest.mark.parametrize("name", ODD)
def test_the_commands_work_in_an_odd_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    home = tmp_path / name / "store"
    cli = Cli(capsys, monkeypatch, home)
    assert cli("init", "--key-file").code == 0
    assert cli("apply", str(FAQ)).code == 0
    r = cli("keys", "list")
    assert r.code == 0, r.err
    assert "cas-dorm" in r.out
    assert cli("trust", "check").code == 0
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["store"]
    cli.check()


def test_the_copy_before_an_upgrade_reads_an_odd_path(tmp_path: Path) -> None:
    home = tmp_path / "odd?mode=rw#x" / "h"
    home.parent.mkdir()
    Store.init(home, key_file=True).close()
    copy = store_session._keep_copy(home / DB_NAME, "0009_deployment_facts")
    assert copy.parent == home
    con = sqlite3.connect(copy)
    try:
        assert con.execute("SELECT count(*) FROM audit").fetchone() == (1,)
    finally:
        con.close()


def test_a_new_store_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    # a certificate row (the certificate's and its chain's PEM, ~2.5 KB) took a 4 KB page
    # of its own: a new store's pages are 16 KB (a bulk apply writes less); a store made
    # before keeps its pages (SQLite changes them only by rewriting the whole file)
    new = tmp_path / "new"
    Store.init(new, key_file=True).close()
    con = sqlite3.connect(new / DB_NAME)
    try:
        assert con.execute("PRAGMA page_size").fetchone() == (store_session.SQLITE_PAGE_SIZE,)
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # an older store: its pages made 4 KB again, as its ccapki made them
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA page_size=4096")
        con.execute("VACUUM")
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    with Store.open(new) as store:
        store.audit.record("test", "a write through the engine")
    con = sqlite3.connect(new / DB_NAME)
    try:
        assert con.execute("PRAGMA page_size").fetchone() == (4096,)
        assert con.execute("SELECT count(*) FROM audit").fetchone() == (2,)
    finally:
        con.close()
