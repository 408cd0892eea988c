"""A store made by an older ccapki is never changed behind its administrator's back: every
command refuses it, unchanged (reports, what-if reports, backups, the service included),
with a hint naming `ccapki upgrade`; `ccapki upgrade` keeps a copy of a SQLite store as it
was (0600, readable by the ccapki that made it) and migrates it (walkthrough: `status`
migrated a store silently, and the old ccapki then refused it)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from ccapki.store import schema as t
from kit.cli import FAQ, Cli, db_bytes, error_with_hint
from kit.migrations import downgrade_store
from kit.pgmode import BACKEND, store_sql

OLD = "0008_pkcs11"


@pytest.fixture
def old_store(cli: Cli, keyfile_store: Path) -> Path:
    """The FAQ deployment applied, then the store taken back to the previous release's
    schema (as that release left it)."""
    assert cli("apply", FAQ).code == 0
    downgrade_store(keyfile_store, OLD)
    return keyfile_store


def _version(home: Path) -> str:
    with store_sql(home) as conn:
        return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["status"], {}),
        (["status", "--nagios"], {}),
        (["status"], {"CCAPKI_NOW": "2027-06-01T00:00:00+00:00"}),
        (["trust", "check"], {}),
        (["keys", "list"], {}),
        (["backup", "create", "--out", "{tmp}/b.ccapki-backup"], {}),
        (["apply", str(FAQ)], {}),
    ],
    ids=["status", "nagios", "what-if", "trust-check", "keys-list", "backup", "apply"],
)
def test_every_command_refuses_an_older_store_unchanged(
    cli: Cli, old_store: Path, tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    before = db_bytes(old_store)
    r = cli(*(a.format(tmp=tmp_path) for a in args), env=env)
    assert r.code in (2, 3), r.both  # 3: --nagios UNKNOWN
    text = r.err if "--nagios" not in args else r.both
    assert f"older than this ccapki's ({t.SCHEMA_HEAD}): nothing was changed" in text
    assert "ccapki upgrade" in text or f"ccapki --home {old_store} upgrade" in text
    if "--nagios" not in args:
        error_with_hint(r)
    assert db_bytes(old_store) == before
    assert _version(old_store) == OLD
    assert not (tmp_path / "b.ccapki-backup").exists()


def test_upgrade_keeps_a_copy_then_migrates(cli: Cli, old_store: Path) -> None:
    # what an upgrade killed while copying left behind: removed by the next one
    stale = old_store / f"ccapki.db.{OLD}.20260101T000000Z.part"
    stale.write_bytes(b"half a copy")
    r = cli("upgrade")
    assert stale.exists() is (BACKEND == "postgresql")  # (no copy of a server's store)
    assert r.code == 0, r.both
    assert f"from schema {OLD} to {t.SCHEMA_HEAD}" in r.out
    assert _version(old_store) == t.SCHEMA_HEAD
    copies = sorted(p for p in old_store.glob(f"ccapki.db.{OLD}.*") if p.suffix != ".part")
    if BACKEND == "postgresql":
        assert copies == []
        assert "no copy kept" in r.out
    else:
        assert len(copies) == 1, copies
        copy = copies[0]
        assert str(copy) in r.out
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        # the copy is the store as it was: the old schema, every certificate
        with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (OLD,)
            assert db.execute("SELECT count(*) FROM certificates").fetchone() == (6,)
        assert not list(old_store.glob("*.part"))
    # the upgraded store answers as before; a second upgrade has nothing to do
    assert cli("status").code in (0, 1)
    again = cli("upgrade", "--json")
    assert again.code == 0
    assert json.loads(again.out) == {
        "before": t.SCHEMA_HEAD,
        "after": t.SCHEMA_HEAD,
        "copy": None,
        "upgraded": False,
    }


def test_upgrade_is_refused_under_a_what_if_clock(cli: Cli, old_store: Path) -> None:
    before = db_bytes(old_store)
    r = cli(
        "upgrade",
        env={"CCAPKI_NOW": "2027-06-01T00:00:00+00:00", "CCAPKI_NOW_ALLOW_WRITES": None},
    )
    assert r.code == 2
    error_with_hint(r)
    assert db_bytes(old_store) == before
