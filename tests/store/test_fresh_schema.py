"""A new store's schema is made in one step (``metadata.create_all`` + the Alembic stamp),
not by running every migration in turn: the two must give the same schema, table for
table, column for column, index for index (partial indexes' conditions included), on
SQLite and on PostgreSQL. A change to ``schema.py`` without its migration (or the reverse)
fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from ccapki.store import Store
from ccapki.store.records import SCHEMA_HEAD
from ccapki.store.session import _file_engine, _migrate
from kit.tools import require_pg_url

#: What 0002 leaves on SQLite only: it adds each ``deployment`` column with the store's
#: deployment name as its DEFAULT, which SQLite cannot drop afterwards (PostgreSQL's
#: migration drops it). No code relies on it (PostgreSQL has none).
_SQLITE_0002_DEFAULT = ("deployment", "VARCHAR(128)", False, "'default'")


def _describe(conn: Connection) -> dict[str, Any]:
    ins = inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(ins.get_table_names()):
        out[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in ins.get_columns(table)
            ),
            "pk": ins.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str(f.get("options")),
                )
                for f in ins.get_foreign_keys(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in ins.get_unique_constraints(table)),
            "checks": sorted(str(c["sqltext"]) for c in ins.get_check_constraints(table)),
        }
    # every index as the database itself writes it (a partial index's WHERE included)
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        )
        out["indexes"] = sorted((name, " ".join(sql.split())) for name, sql in rows)
    else:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        )
        out["indexes"] = sorted((name, d.replace(f"{schema}.", "")) for name, d in rows)
    out["version"] = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return out


def _both(fresh: Engine, migrated: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    _migrate(migrated)
    with fresh.connect() as a, migrated.connect() as b:
        return _describe(a), _describe(b)


# SQLAlchemy cannot reflect an expression index (ix_users_name_lower) on SQLite: the
# indexes are compared by their SQL text instead
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection:sqlalchemy.exc.SAWarning")
@pytest.mark.sqlite_only  # its store is a SQLite file (the suite on PostgreSQL: a schema)
def test_fresh_sqlite_store_has_the_migrated_schema(tmp_path: Path) -> None:
    with Store.init(tmp_path / "fresh", key_file=True):
        pass
    fresh_engine = _file_engine(tmp_path / "fresh" / "ccapki.db")
    migrated_engine = _file_engine(tmp_path / "migrated.db")
    try:
        fresh, migrated = _both(fresh_engine, migrated_engine)
    finally:
        fresh_engine.dispose()
        migrated_engine.dispose()
    for table in ("cas", "certificates", "csrs", "keys", "trust_entries"):
        columns = migrated[table]["columns"]
        assert _SQLITE_0002_DEFAULT in columns, table
        columns[columns.index(_SQLITE_0002_DEFAULT)] = ("deployment", "VARCHAR(128)", False, "None")
        migrated[table]["columns"] = sorted(columns)
    assert fresh == migrated
    assert fresh["version"] == SCHEMA_HEAD
    assert any(" WHERE " in sql for _, sql in fresh["indexes"])  # partial ones compared


@pytest.fixture
def two_pg_schemas() -> Iterator[tuple[str, str]]:
    """Two empty schemas of the test PostgreSQL database, dropped afterwards."""
    url = require_pg_url()
    names = tuple(f"fresh_{uuid.uuid4().hex[:10]}" for _ in range(2))
    admin = create_engine(url)
    with admin.begin() as conn:
        for name in names:
            conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield names[0], names[1]
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def test_fresh_postgres_store_has_the_migrated_schema(
    two_pg_schemas: tuple[str, str], tmp_path: Path
) -> None:
    url = require_pg_url()
    fresh_schema, migrated_schema = two_pg_schemas

    def engine(schema: str) -> Engine:
        return create_engine(url, connect_args={"options": f"-csearch_path={schema}"})

    fresh_engine, migrated_engine = engine(fresh_schema), engine(migrated_schema)
    try:
        fresh_url = fresh_engine.url.update_query_dict(
            {"options": f"-csearch_path={fresh_schema}"}
        ).render_as_string(hide_password=False)
        with Store.init(tmp_path / "home", url=fresh_url, passphrase="correct horse battery"):
            pass
        fresh, migrated = _both(fresh_engine, migrated_engine)
    finally:
        fresh_engine.dispose()
        migrated_engine.dispose()
    assert fresh == migrated
    assert fresh["version"] == SCHEMA_HEAD
    assert any(" WHERE " in d for _, d in fresh["indexes"])
