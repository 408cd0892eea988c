"""Issue 13: user names are unique whatever their case in the database itself (a unique
index on lower(users.name), migration 0006_users_name), not only in ``store.users.add``:
on SQLite and on PostgreSQL. A store made before it that holds names differing only by
case is not upgraded: the error names them and the statement that renames one."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

import ccapki.store
from ccapki.errors import StoreError
from ccapki.store import Store
from ccapki.store import schema as t
from kit.cli import Cli, error_with_hint
from kit.jobs import pg_schema
from kit.migrations import alembic_to
from kit.pgmode import store_sql, store_url

BEFORE = "0005_inventory"
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The store's database: None (the SQLite file in its home) or a fresh PostgreSQL
    schema."""
    if request.param == "sqlite":
        yield None
        return
    with pg_schema() as pg:
        yield pg


def _engine(home: Path, url: str | None) -> Engine:
    return create_engine(url or store_url(home))


def _add(engine: Engine, *names: str) -> None:
    with engine.begin() as c:
        for name in names:
            c.execute(insert(t.users), {"name": name, "role": "viewer", "created_at": NOW})


def _names(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(t.users.c.name).order_by(t.users.c.id)).scalars())


def _version(engine: Engine) -> str:
    with engine.connect() as c:
        return str(c.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_the_database_refuses_names_differing_only_by_case(tmp_path: Path, url: str | None) -> None:
    Store.init(tmp_path, url=url, key_file=True).close()
    engine = _engine(tmp_path, url)
    try:
        _add(engine, "ann")
        for clash in ("ANN", "Ann", "ann"):  # written past store.users, as a script would
            with pytest.raises(IntegrityError):
                _add(engine, clash)
        _add(engine, "anna", "bob.Smith")
        with pytest.raises(IntegrityError):
            _add(engine, "Bob.smith")
        assert _names(engine) == ["ann", "anna", "bob.Smith"]
    finally:
        engine.dispose()


def test_migration_0006_refuses_a_store_with_clashing_names_then_upgrades(
    tmp_path: Path, url: str | None
) -> None:
    Store.init(tmp_path, url=url, key_file=True).close()
    engine = _engine(tmp_path, url)
    try:
        alembic_to(engine, BEFORE, up=False)  # a store of the release before: no index yet
        _add(engine, "ann", "carol", "Ann", "ANN")  # that release's store.users allowed it
        with pytest.raises(StoreError) as caught:
            Store.open(tmp_path, url=url, upgrade=True)
        err = caught.value
        assert "user names that differ only by case" in err.message
        assert "'ann' (id 1), 'Ann' (id 3), 'ANN' (id 4)" in err.message
        assert "nothing was changed" in (err.hint or "")
        assert _version(engine) == BEFORE  # not half-migrated
        assert _names(engine) == ["ann", "carol", "Ann", "ANN"]
        # what the hint says to do, done, is what it takes
        found = re.search(r"`(UPDATE users SET name = '(\S+)' WHERE id = (\d+);)`", err.hint)
        assert found, err.hint
        assert (found.group(2), found.group(3)) == ("ANN-2", "4")
        with engine.begin() as c:
            c.execute(text(found.group(1)))
            c.execute(text("UPDATE users SET name = 'ann-3' WHERE id = 3"))
        with Store.open(tmp_path, url=url, upgrade=True) as store:
            assert [u.name for u in store.users.list()] == ["ANN-2", "ann", "ann-3", "carol"]
        assert _version(engine) == t.SCHEMA_HEAD
        with pytest.raises(IntegrityError):
            _add(engine, "CAROL")
        # and back: the index goes with the downgrade, and comes again with the upgrade
        alembic_to(engine, BEFORE, up=False)
        _add(engine, "CAROL")
        with engine.begin() as c:
            c.execute(text("DELETE FROM users WHERE name = 'CAROL'"))
        alembic_to(engine, "0006_users_name", up=True)
        with pytest.raises(IntegrityError):
            _add(engine, "CAROL")
    finally:
        engine.dispose()


def test_the_cli_says_which_names_clash(cli: Cli, keyfile_store: Path) -> None:
    with store_sql(keyfile_store) as conn:
        cfg = Config()
        cfg.set_main_option(
            "script_location", str(Path(ccapki.store.__file__).parent / "migrations")
        )
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, BEFORE)
        for name in ("dave", "Dave"):
            conn.execute(insert(t.users), {"name": name, "role": "admin", "created_at": NOW})
    # any command refuses the older store (nothing changed); `ccapki upgrade` says why
    # the migration cannot run, and what fixes it
    refused = error_with_hint(cli("users", "list")).err  # (--home X: the exact command)
    assert "ccapki upgrade" in refused or " upgrade`" in refused
    r = error_with_hint(cli("upgrade"))
    assert "'dave' (id 1), 'Dave' (id 2)" in r.err
    assert "UPDATE users SET name = 'Dave-2' WHERE id = 2;" in r.err
