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


def insert_many(c: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``rows`` (mappings with the same keys, column names of ``table``) into
    ``table`` on ``c``, in its transaction. Raises what the driver raises, wrapped by
    SQLAlchemy as ever (``IntegrityError``...)."""
    if not rows:
        return
    keys = tuple(rows[0])
    sql, positional, order, procs = _compiled(c, table, keys)
    pick = operator.itemgetter(*order)
    converted: list[list[Any]] = [list(v) if isinstance(v, tuple) else [v] for v in map(pick, rows)]
    for i, proc in enumerate(procs):
        if proc is None:
            continue
        # the rows of one statement repeat a few values (the time of the apply, one
        # validity period): each distinct value is converted once; equal values of one
        # type convert alike (an instant in another zone is the same UTC text)
        seen: dict[tuple[type, object], object] = {}
        for v in converted:
            old = v[i]
            slot = (type(old), old)
            try:
                v[i] = seen[slot]
            except KeyError:
                v[i] = seen[slot] = proc(old)
            except TypeError:  # not hashable
                v[i] = proc(old)
    if positional:
        c.exec_driver_sql(sql, [tuple(v) for v in converted])
    else:
        c.exec_driver_sql(sql, [dict(zip(order, v, strict=True)) for v in converted])
