"""Small helpers with no better home."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached", "gc_paused", "sqlite_trouble", "written_at"]

_T = TypeVar("_T")


class cached(Generic[_T]):
    """:func:`functools.cached_property` without its lock, as Python 3.12 made it: the
    value computed at the first reading is kept in the instance's ``__dict__`` (a frozen
    dataclass too), which later readings find first. On Python 3.11 the lock made the
    first reading five times the computation: a bulk apply reads the names of 10,000
    identities once each. Not for values that two threads may compute at once (each would
    compute it; the last one is kept)."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _T | cached[_T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step (restored afterwards).

    Issuing in bulk allocates many long-lived objects and no reference cycles; without
    the pause the collector rescans the growing heap over and over (~15% of the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def written_at(detail: Mapping[str, object]) -> dt.datetime | None:
    """When an audit row that records it (``written_at``: the machine's clock, ISO 8601)
    was written: renewals and ACME orders tell runs at once apart by it. None for a row
    from before ccapki recorded it, or a value that is not a time."""
    text = detail.get("written_at")
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def sqlite_trouble(exc: BaseException) -> tuple[str, str] | None:
    """What a SQLite error under a command says of the store's file: ``("damaged",
    why)`` (``database disk image is malformed``, a text column no longer UTF-8: damage
    SQLite's integrity check may not see), ``("read-only", why)`` (a write refused),
    ``("busy", why)`` (another program's lock held past SQLite's own wait), ``("full",
    why)`` (the disk or a file-size limit is full), ``("failing", why)`` (a read or write
    of the file failed: ``disk I/O error``). ``exc`` may be SQLAlchemy's wrapper (its
    ``orig``). Returns None for anything else."""
    import sqlite3

    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.Error):
        return None
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    why = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    why = why.partition(" with text ")[0]  # sqlite3 quotes the undecodable column's text
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or (
        primary is None and "decode to UTF-8" in why
    ):
        return "damaged", why
    if primary == sqlite3.SQLITE_READONLY:
        return "read-only", why
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "busy", why
    if primary == sqlite3.SQLITE_FULL:
        return "full", why
    if primary == sqlite3.SQLITE_IOERR:
        return "failing", why
    return None
