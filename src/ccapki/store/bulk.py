"""Many rows into one table in one statement, for the bulk paths (apply of thousands of
identities, their trust stores and audit rows).

``connection.execute(insert(table), rows)`` builds and processes a parameter dictionary per
row inside SQLAlchemy (about 40 µs a row here: a third of what persisting an issued identity
costs). :func:`insert_many` compiles the INSERT once for the connection's dialect, converts
each value with the column type's own bind processor (the same conversion SQLAlchemy applies:
:class:`~ccapki.store.schema.UTCDateTime`'s UTC check, SQLite's datetime text...) and hands
the driver the rows in one ``executemany``. Same statement, same values, same transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

__all__ = ["insert_many"]

_Compiled = tuple[str, bool, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]
#: (dialect name, table, column keys) -> the compiled INSERT, whether it is positional, the
#: parameter order and each column's bind processor
_CACHE: dict[tuple[str, str, tuple[str, ...]], _Compiled] = {}


def _compiled(c: Connection, table: Table, keys: tuple[str, ...]) -> _Compiled:
    dialect = c.dialect
    slot = (dialect.name, table.name, keys)
    found = _CACHE.get(slot)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or keys) if compiled.positional else keys
        procs = tuple(table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in order)
        found = _CACHE[slot] = (str(compiled), compiled.positional, order, procs)
    return found


def _converted(column: Sequence[Any], proc: Callable[[Any], Any]) -> Sequence[Any]:
    """``proc`` of each value of ``column`` (a column of one statement's rows)."""
    kinds = set(map(type, column))
    if kinds <= _DISTINCT:  # key material: every row's own value, nothing to share
        return list(map(proc, column))
    if len(kinds) == 1:
        # the rows of one statement repeat a few values (the time of the apply, one
        # validity period): each distinct value is converted once; equal values of one
        # type convert alike (an instant in another zone is the same UTC text)
        try:
            done = {v: proc(v) for v in dict.fromkeys(column)}
        except TypeError:  # not hashable
            return list(map(proc, column))
        return list(map(done.__getitem__, column))
    seen: dict[tuple[type, object], object] = {}  # equal values of other types: apart
    out: list[Any] = []
    for v in column:
        slot = (type(v), v)
        try:
            out.append(seen[slot])
        except KeyError:
            out.append(seen.setdefault(slot, proc(v)))
        except TypeError:  # not hashable
            out.append(proc(v))
    return out


#: Value types whose rows each hold their own value (sealed keys, nonces): not memoized.
_DISTINCT = frozenset({bytes, bytearray, memoryview})


def insert_many(c: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``rows`` (mappings with the same keys, column names of ``table``) into
    ``table`` on ``c``, in its transaction. Raises what the driver raises, wrapped by
    SQLAlchemy as ever (``IntegrityError``...)."""
    if not rows:
        return
    keys = tuple(rows[0])
    sql, positional, order, procs = _compiled(c, table, keys)
    pick = operator.itemgetter(*order)
    picked = list(map(pick, rows))
    if len(order) == 1:  # itemgetter of one key gives the value itself
        picked = [(v,) for v in picked]
    # column by column: each column's values converted by its type's bind processor
    columns: list[Sequence[Any]] = list(zip(*picked, strict=True))
    for i, proc in enumerate(procs):
        if proc is not None:
            columns[i] = _converted(columns[i], proc)
    params = list(zip(*columns, strict=True))
    if positional:
        c.exec_driver_sql(sql, params)
    else:
        c.exec_driver_sql(sql, [dict(zip(order, v, strict=True)) for v in params])
