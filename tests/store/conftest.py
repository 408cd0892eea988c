"""Fixtures of the store tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.store import Store

#: the clock of :func:`keyfile_store_at_now` (a fixed instant with microseconds)
STORE_NOW = dt.datetime(2026, 11, 29, 13, 14, 15, 161718, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh key-file store in ``tmp_path / "store"`` on the clock ``STORE_NOW``, open."""
    s = Store.init(tmp_path / "store", key_file=True, clock=lambda: STORE_NOW)
    try:
        yield s
    finally:
        s.close()
