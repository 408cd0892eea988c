"""The store's datetime columns read back as aware UTC datetimes on SQLite, whatever text the
column holds: the text SQLAlchemy writes (naive UTC, with or without microseconds), a text
with its own zone, a date alone (the fast path appends "+00:00" to the text; the others must
still be read as before)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text

from ccapki.store.schema import UTCDateTime

UTC = dt.UTC


@pytest.fixture
def table() -> tuple[object, Table]:
    engine = create_engine("sqlite://")
    md = MetaData()
    tbl = Table("t", md, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    md.create_all(engine)
    return engine, tbl


def _read(engine: object, tbl: Table) -> list[dt.datetime | None]:
    with engine.connect() as c:  # type: ignore[attr-defined]
        return [r.at for r in c.execute(select(tbl.c.at).order_by(tbl.c.id))]


def test_written_values_read_back_equal_and_in_utc(table: tuple[object, Table]) -> None:
    engine, tbl = table
    plus2 = dt.timezone(dt.timedelta(hours=2))
    values = [
        dt.datetime(2026, 11, 27, tzinfo=UTC),
        dt.datetime(2026, 11, 27, 13, 5, 9, 123456, tzinfo=UTC),
        dt.datetime(2031, 1, 1, 1, 0, tzinfo=plus2),
        None,
    ]
    with engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(insert(tbl), [{"at": v} for v in values])
    got = _read(engine, tbl)
    assert got == values
    for v in got:
        assert v is None or v.tzinfo is UTC


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-27 00:00:00.000000", dt.datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27 10:00:00", dt.datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27 10:00:00+02:00", dt.datetime(2026, 11, 27, 8, tzinfo=UTC)),
        ("2026-11-27T10:00:00.5-01:00", dt.datetime(2026, 11, 27, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-27", dt.datetime(2026, 11, 27, tzinfo=UTC)),
    ],
)
def test_every_stored_text_reads_as_utc(
    table: tuple[object, Table], stored: str, expected: dt.datetime
) -> None:
    engine, tbl = table
    with engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(text("INSERT INTO t (at) VALUES (:v)"), {"v": stored})
    (got,) = _read(engine, tbl)
    assert got == expected
    assert got is not None
    assert got.utcoffset() == dt.timedelta(0)
