"""Walkthrough D: ``--out`` never writes over the store's own files.

``ccapki backup create --out ~/ccapki/ccapki.db`` replaced the store's database with the
backup; ``ccapki export cam --out ~/ccapki/ccapki.db`` replaced it with one PEM bundle (every
other key lost); ``--out ~/ccapki/data.key`` replaced the data key (every sealed key lost).
Each said "wrote ..." and exited 0. Now each is refused (exit 2, ``error:`` and ``hint:``),
the file is untouched and the store still whole; a SQLite database anywhere is refused too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase", "CCAPKI_EXPORT_PASSWORD": "abcdefgh"}

COMMANDS = {
    "backup": ("backup", "create", "--out"),
    "export-pem": ("export", "cam", "--out"),
    "export-p12": ("export", "cam", "--format", "pkcs12", "--out"),
}


@pytest.mark.sqlite_only  # the store's files in its folder
@pytest.mark.parametrize("name", ["ccapki.db", "data.key"])
@pytest.mark.parametrize("command", COMMANDS)
def test_out_over_the_stores_own_file_is_refused(
    cli: CliRunner, keyfile_store: Path, name: str, command: str
) -> None:
    ok(cli("apply", FAQ))
    victim = keyfile_store / name
    before = victim.read_bytes()

    r = error_with_hint(cli(*COMMANDS[command], victim, env=PASS))
    assert "replacing it would lose the store's keys" in r.err, r.err
    assert "nothing was written" in r.err, r.err
    assert victim.read_bytes() == before
    assert ok(cli("doctor")).code == 0
    assert not [p for p in keyfile_store.iterdir() if p.name.endswith(".tmp")]


def test_out_over_any_sqlite_database_is_refused(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    other = tmp_path / "inventory.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    r = error_with_hint(cli("export", "cam", "--out", other))
    assert "a SQLite database" in r.err, r.err
    assert other.read_bytes() == before
    # a file that is none of them is replaced as always
    plain = tmp_path / "data.key"
    plain.write_text("not a data key\n")
    ok(cli("export", "cam", "--out", plain))
    assert b"PRIVATE KEY" in plain.read_bytes()
