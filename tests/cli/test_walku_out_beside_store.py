"""Walkthrough U: README.md says ``--out`` never writes a store's ``data.key`` nor its
database's ``-wal``/``-shm``/``-journal``. Only files that were there were refused: in the
folder of a passphrase store (no data.key), ``ccapki export cas-dorm --format cert --out
~/ccapki/data.key`` wrote one, after which every command warned of its mode and ``doctor``
reported an error; and a ``ccapki.db-journal`` written beside ``ccapki.db`` is what SQLite
takes for a hot journal to roll back. Each is refused now, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok

PASS = {"CCAPKI_PASSPHRASE": "a passphrase of the store"}


@pytest.mark.sqlite_only  # the files beside a SQLite store's ccapki.db
@pytest.mark.parametrize(
    "name", ["data.key", "ccapki.db-journal", "ccapki.db-wal", "ccapki.db-shm"]
)
def test_out_never_makes_a_store_file_beside_its_database(cli: Cli, home: Path, name: str) -> None:
    ok(cli("init", env=PASS))
    ok(cli("apply", FAQ, env=PASS))
    before = sorted(p.name for p in home.iterdir())
    target = home / name
    r = error_with_hint(cli("export", "cas-dorm", "--format", "cert", "--out", target, env=PASS))
    assert "nothing was written" in r.err, r.err
    assert sorted(p.name for p in home.iterdir()) == before
    r = ok(cli("doctor", env=PASS))
    assert "data.key" not in r.both, r.both
