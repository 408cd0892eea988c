"""Walkthrough item 13: a ``ccapki.db`` that is not a ccapki store tells one story.

An empty file (``: > ccapki.db``), a file of random bytes or another program's SQLite
database: every command that opens the store and ``init`` both say the file is not a ccapki
store and give the same fix (move it away, then ``ccapki init``), where ``keys list`` used to
say "run ccapki init" and ``init`` then "a store already exists ... use it as it is". The
file is never changed. Following the hint works. A store's ``data.key`` without its database
gets one story too (restore the database, or move the key away).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kit.cli import CliRunner


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _random(db: Path) -> None:
    db.write_bytes(os.urandom(4096))


def _other_sqlite(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE other (x)")
    con.commit()
    con.close()


KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (_empty, "it is empty (0 bytes)"),
    "random": (_random, "it is not a SQLite database"),
    "other-sqlite": (_other_sqlite, "it holds no ccapki tables"),
}


def _error(r_code: int, err: str) -> tuple[str, str]:
    assert r_code == 2, err
    lines = err.splitlines()
    assert len(lines) == 2, err
    return lines[0], lines[1]


@pytest.mark.sqlite_only  # the SQLite file is not a store
@pytest.mark.parametrize("kind", KINDS)
def test_one_story_for_a_file_that_is_not_a_store(
    cli: CliRunner, home: Path, tmp_path: Path, kind: str
) -> None:
    make, why = KINDS[kind]
    home.mkdir()
    db = home / "ccapki.db"
    make(db)
    before = db.read_bytes()
    fix = f"hint: move it away (`mv {db} {db}.bak`), then"
    for args in (("keys", "list"), ("trust", "check")):
        r = cli(*args)
        error, hint = _error(r.code, r.err)
        assert error == f"error: {db} is not a ccapki store ({why})", error
        assert hint.startswith(fix), hint
        assert "ccapki init" in hint
    r = cli("init", "--key-file")
    error, hint = _error(r.code, r.err)
    assert error.startswith(f"error: {db} is not a ccapki store ({why})"), error
    assert "use it as it is" not in hint
    assert hint.startswith(fix), hint
    assert db.read_bytes() == before  # never changed
    assert sorted(p.name for p in home.iterdir()) == ["ccapki.db"]
    # following the hint works
    db.rename(tmp_path / "ccapki.db.bak")
    assert cli("init", "--key-file").code == 0
    assert cli("keys", "list").code == 0


def test_a_real_store_is_still_kept_as_it_is(cli: CliRunner, keyfile_store: Path) -> None:
    r = cli("init", "--key-file")
    error, hint = _error(r.code, r.err)
    assert error.startswith(f"error: a store already exists at {keyfile_store}"), error
    assert "use it as it is" in hint


@pytest.mark.sqlite_only  # the SQLite file moved away from its data.key
def test_a_data_key_without_its_database(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    home = keyfile_store
    (home / "ccapki.db").rename(tmp_path / "elsewhere.db")
    r = cli("keys", "list")
    error, hint = _error(r.code, r.err)
    assert error == f"error: no ccapki.db in {home}, only the data.key of a store", error
    assert "restore ccapki.db" in hint, hint
    assert "move data.key away" in hint, hint
    r = cli("init", "--key-file")
    error, init_hint = _error(r.code, r.err)
    assert error.startswith(f"error: a store already exists at {home}"), error
    assert "ccapki.db" in error
    assert init_hint == hint  # the same fix from both commands
