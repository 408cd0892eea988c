"""Walkthrough A: ``CCAPKI_DATABASE_URL=sqlite:///PATH`` (a supported URL, store/urls.py)
with ``ccapki init``:

- a PATH in a folder that does not exist: exit 70, "internal error: OperationalError";
- a PATH holding a store already (a second home given the same URL): exit 70,
  "IntegrityError: UNIQUE constraint failed: meta.key";
- a new PATH: the database was made 0644 (the 0600 file was made in the store folder
  instead, as an empty ``ccapki.db`` that later opens called "not a ccapki store");
- opening a PATH in a missing folder said the store folder's ``ccapki.db`` "is not a
  ccapki store": another file than the one the URL names.

Each is now said as bad input (exit 2) about the URL's file, and nothing is left behind.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kit.cli import Cli, error_with_hint, ok

pytestmark = pytest.mark.sqlite_only


def _url(path: Path) -> dict[str, str | None]:
    return {"CCAPKI_DATABASE_URL": f"sqlite:///{path}"}


def test_init_in_a_sqlite_url_makes_that_file_0600_and_nothing_else(
    cli: Cli, home: Path, tmp_path: Path
) -> None:
    db = tmp_path / "elsewhere" / "store.db"
    db.parent.mkdir()
    ok(cli("init", "--key-file", env=_url(db)))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # before: 0644
    assert sorted(p.name for p in home.iterdir()) == ["data.key"]  # before: + ccapki.db
    assert ok(cli("deployments", "--json", env=_url(db))).json() == []


def test_init_in_a_sqlite_url_holding_a_store_refuses(cli: Cli, home: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    ok(cli("init", "--key-file", env=_url(db)))
    other = tmp_path / "other-home"
    r = error_with_hint(cli("init", "--key-file", env=_url(db), home_dir=other))  # before: 70
    assert "a store already exists" in r.err
    assert str(db) in r.err
    assert not other.exists() or list(other.iterdir()) == []


def test_a_sqlite_url_in_a_missing_folder_is_bad_input(
    cli: Cli, home: Path, tmp_path: Path
) -> None:
    db = tmp_path / "no-such-folder" / "store.db"
    r = error_with_hint(cli("init", "--key-file", env=_url(db)))  # before: exit 70
    assert f"cannot make the store's database {db}" in r.err
    assert f"mkdir -p {db.parent}" in r.err
    assert not home.exists() or list(home.iterdir()) == []  # nothing was written
    r = error_with_hint(cli("deployments", env=_url(db)))
    assert r.err.startswith(f"error: no ccapki store at {db}\n"), r.err  # the URL's file
