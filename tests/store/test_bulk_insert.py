"""``store.bulk.insert_many`` (the bulk path of apply, trust stores and audit rows) stores
exactly what SQLAlchemy's own ``execute(insert(table), rows)`` stores: the same text for
datetimes on SQLite, the same bytes, NULLs and numbers; a naive datetime is refused as the
column type refuses it; a constraint violation is the driver's IntegrityError and rolls the
whole statement back. On SQLite and on PostgreSQL (``make test-pg``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.store.bulk import insert_many
from kit.pgmode import store_sql

from .conftest import STORE_NOW as NOW


def _key_rows(tag: str) -> list[dict[str, object]]:
    return [
        {
            "fingerprint": f"{tag}{i:062x}",
            "key_type": "ecdsa-p256",
            "identity": None if i % 3 == 0 else f"cas{i}",
            "state": "active",
            "nonce": bytes([i]) * 12,
            "sealed": bytes(range(i, i + 40)),
            "created_at": NOW + dt.timedelta(microseconds=i)
            if i % 2
            else NOW.astimezone(dt.timezone(dt.timedelta(hours=5))),
            "deployment": "d",
        }
        for i in range(1, 40)
    ]


def _raw(home: Path) -> list[tuple[object, ...]]:
    """The rows as the database holds them (no SQLAlchemy type processing)."""
    with store_sql(home) as c:
        return [
            tuple(r)[1:]
            for r in c.execute(
                text(
                    "SELECT substr(fingerprint, 3), key_type, identity, state, nonce, sealed, "
                    "created_at, deployment FROM keys WHERE fingerprint LIKE :a "
                    "OR fingerprint LIKE :b ORDER BY substr(fingerprint, 3), fingerprint"
                ),
                {"a": "aa%", "b": "bb%"},
            )
        ]


def test_insert_many_stores_what_sqlalchemy_stores(store: Store, tmp_path: Path) -> None:
    with store.transaction() as c:
        c.execute(insert(t.keys), _key_rows("aa"))
        insert_many(c, t.keys, _key_rows("bb"))
    raw = _raw(tmp_path / "store")
    assert len(raw) == 78
    by_sqlalchemy, by_bulk = raw[0::2], raw[1::2]
    assert by_sqlalchemy == by_bulk
    # and read back through the table's types: aware UTC datetimes, bytes
    with store.connection() as c:
        got = c.execute(select(t.keys).where(t.keys.c.fingerprint.like("bb%"))).all()
    assert {r.created_at.tzinfo for r in got} == {dt.UTC}
    assert min(r.created_at for r in got) == NOW


def test_a_naive_datetime_is_refused_and_nothing_is_stored(store: Store) -> None:
    rows = _key_rows("cc")
    rows[5] = {**rows[5], "created_at": dt.datetime(2026, 1, 1)}
    with pytest.raises((ValueError, StatementError)), store.transaction() as c:
        insert_many(c, t.keys, rows)
    with store.connection() as c:
        assert c.execute(select(t.keys).where(t.keys.c.fingerprint.like("cc%"))).all() == []


def test_a_duplicate_is_the_drivers_integrity_error_and_rolls_back(store: Store) -> None:
    rows = _key_rows("dd")
    with pytest.raises(IntegrityError), store.transaction() as c:
        insert_many(c, t.keys, [*rows, rows[0]])
    with store.connection() as c:
        assert c.execute(select(t.keys).where(t.keys.c.fingerprint.like("dd%"))).all() == []


def test_nothing_to_insert_is_a_no_op(store: Store) -> None:
    with store.transaction() as c:
        insert_many(c, t.keys, [])
