"""A store folder whose path a URL would read otherwise: ``?`` (a query), ``#`` (a
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
