"""The suite on PostgreSQL: ``CCAPKI_TEST_BACKEND=postgresql`` (with ``CCAPKI_TEST_PG_URL``).

A pytest plugin (``tests/conftest.py`` loads it; it does nothing on the default SQLite
backend). On PostgreSQL, every store a test makes or opens without a database URL (``ccapki
init`` and every command through the ``cli`` fixture, ``Store.init/open(home)``,
``ccapki.open_store(home)``) lives in a fresh PostgreSQL schema of its own, one per home
folder, dropped after the test: the store's "SQLite file in HOME" is replaced by "the schema
of HOME". Commands run as processes get ``CCAPKI_DATABASE_URL`` of the ``home`` fixture's
schema.

Tests about SQLite itself (the database file, its locks, modes and PRAGMAs, a read-only
file) are marked ``@pytest.mark.sqlite_only`` and skipped on PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

__all__ = ["BACKEND", "dump", "pytest_configure"]

#: The backend the suite runs on: ``sqlite`` (default) or ``postgresql``.
BACKEND = os.environ.get("CCAPKI_TEST_BACKEND", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: about SQLite itself; skipped with CCAPKI_TEST_BACKEND=postgresql"
    )


class _Schemas:
    """One fresh schema per home folder, made when first asked for."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.engine: Engine = create_engine(base)
        self.by_home: dict[Path, str] = {}

    def url(self, home: Path) -> str:
        key = Path(home).resolve()
        name = self.by_home.get(key)
        if name is None:
            name = self.by_home[key] = "t_" + uuid.uuid4().hex[:16]
            with self.engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {name}"))
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{name}"

    def holds_store(self, home: Path) -> bool:
        name = self.by_home.get(Path(home).resolve())
        if name is None:
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM information_schema.tables "
                    "WHERE table_schema = :s AND table_name = 'meta'"
                ),
                {"s": name},
            ).first()
        return found is not None

    def drop(self) -> None:
        with self.engine.begin() as conn:
            for name in self.by_home.values():
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        self.engine.dispose()


#: the schemas of the running test (None outside one, and on SQLite)
_current: _Schemas | None = None


def dump(home: Path) -> bytes:
    """Every row of every table of ``home``'s schema, in a fixed order (what
    :func:`kit.cli.db_bytes` compares on PostgreSQL)."""
    from sqlalchemy import select

    from ccapki.store import schema as t

    assert _current is not None, "kit.pgmode.dump outside a PostgreSQL test"
    engine = create_engine(_current.url(home))
    try:
        with engine.connect() as conn:
            parts = [
                repr([tuple(r) for r in conn.execute(select(tbl).order_by(*tbl.primary_key))])
                for tbl in t.metadata.sorted_tables
            ]
    finally:
        engine.dispose()
    return "\n".join(parts).encode()


def _with_url(schemas: _Schemas, method: Any) -> Any:
    """``Store.init``/``Store.open`` giving ``home``'s schema when no URL is given."""

    def call(home: Path, *args: Any, url: str | None = None, **kw: Any) -> Any:
        return method(home, *args, url=url or schemas.url(home), **kw)

    return call


@pytest.fixture(autouse=True)
def _postgresql_stores(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _clean_env: None
) -> Iterator[None]:
    if BACKEND != "postgresql":
        yield
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about SQLite itself (CCAPKI_TEST_BACKEND=postgresql)")
    from kit.tools import require_pg_url

    global _current
    schemas = _current = _Schemas(require_pg_url())

    from ccapki.store.session import Store

    # the URL is given where the store is made or opened, as a PostgreSQL user gives it
    monkeypatch.setattr(Store, "init", _with_url(schemas, Store.init))
    monkeypatch.setattr(Store, "open", _with_url(schemas, Store.open))
    monkeypatch.setattr(
        Store, "exists", staticmethod(lambda home, url=None: bool(url) or schemas.holds_store(home))
    )
    if "home" in request.fixturenames:  # commands run as processes
        home = request.getfixturevalue("home")
        monkeypatch.setenv("CCAPKI_DATABASE_URL", schemas.url(home))
    try:
        yield
    finally:
        _current = None
        schemas.drop()
