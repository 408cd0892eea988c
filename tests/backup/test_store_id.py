"""A store's ID: a random UUID in its ``meta`` table, made at ``init`` (an older store's at
its first write or backup), carried in every backup's header (``extra.store_id``) and
printed by ``backup verify``. ``backup restore`` of another store's backup into a store
holding data is refused plainly (both IDs' first 8 characters, nothing written) unless
``--force``; into an empty store (a new machine) it asks nothing and the store takes the
backup's ID."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from ccapki.store import Store
from kit.cli import FAQ, CliRunner, deployment, error_with_hint, ok, standalone, write
from kit.pgmode import store_sql

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _id(home: Path) -> str | None:
    with Store.open(home) as s:
        return s.store_id()


def _counts(home: Path) -> dict[str, int]:
    with Store.open(home) as s:
        return {t: s.count(t) for t in ("certificates", "keys", "cas", "trust_entries", "audit")}


def _faq_store(cli: CliRunner, home: Path) -> Path:
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", FAQ, home_dir=home))
    return home


def test_init_makes_a_store_id_that_backups_carry(cli: CliRunner, tmp_path: Path) -> None:
    a = _faq_store(cli, tmp_path / "a")
    made = _id(a)
    assert made is not None
    assert str(uuid.UUID(made)) == made
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    r = ok(cli("backup", "verify", archive, env=PASS))
    assert f"store ID: {made}" in r.out, r.out
    assert ok(cli("backup", "verify", archive, "--json", env=PASS)).json()["store_id"] == made
    assert _id(a) == made  # kept


def test_another_stores_backup_is_refused_plainly_unless_forced(
    cli: CliRunner, tmp_path: Path
) -> None:
    a = _faq_store(cli, tmp_path / "a")
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    # another store, holding another deployment: no certificate of the two clashes
    b = tmp_path / "b"
    ok(cli("init", "--key-file", home_dir=b))
    other = deployment(name="elsewhere", cas=[standalone("cas-x", "10.9.0.1")])
    ok(cli("apply", write(tmp_path / "other.toml", other), home_dir=b))
    before = _counts(b)
    ida, idb = _id(a), _id(b)
    assert ida is not None
    assert idb is not None
    assert ida != idb

    r = error_with_hint(cli("backup", "restore", archive, home_dir=b, env=PASS))
    error, hint = r.err.splitlines()
    assert "the backup comes from another store" in error, error
    assert f"store ID {ida[:8]}; this store's is {idb[:8]}" in error, error
    assert error.endswith("nothing was restored"), error
    assert "--force" in hint, hint
    assert "empty store" in hint, hint
    assert _counts(b) == before

    r = ok(cli("backup", "restore", archive, "--force", home_dir=b, env=PASS))
    assert "6 identities with new versions" in r.out, r.out
    assert _id(b) == idb  # a store holding data keeps its own ID


def test_an_empty_store_restores_another_stores_backup_without_asking(
    cli: CliRunner, tmp_path: Path
) -> None:
    a = _faq_store(cli, tmp_path / "a")
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    fresh = tmp_path / "fresh"  # a new machine
    ok(cli("init", "--key-file", home_dir=fresh))
    assert _id(fresh) != _id(a)
    r = ok(cli("backup", "restore", archive, home_dir=fresh, env=PASS))
    assert "6 identities with new versions" in r.out, r.out
    assert _id(fresh) == _id(a)  # it is that store, moved here
    # so the old machine's later backups restore into it without asking
    again = tmp_path / "a2.backup"
    ok(cli("backup", "create", "--out", again, home_dir=a, env=PASS))
    ok(cli("backup", "restore", again, home_dir=fresh, env=PASS))


def _drop_id(home: Path) -> None:
    """An older store: made before stores had an ID."""
    with store_sql(home) as conn:
        conn.execute(text("DELETE FROM meta WHERE \"key\" = 'store_id'"))
    assert _id(home) is None


def test_an_older_store_gets_its_id_at_its_first_write_or_backup(
    cli: CliRunner, tmp_path: Path
) -> None:
    a = _faq_store(cli, tmp_path / "a")
    _drop_id(a)
    ok(cli("status", home_dir=a))  # reading makes none
    assert _id(a) is None
    moved = write(tmp_path / "moved.toml", FAQ.read_text().replace("10.31.0.10", "10.31.0.99"))
    ok(cli("apply", moved, home_dir=a))
    made = _id(a)
    assert made is not None
    assert str(uuid.UUID(made)) == made

    _drop_id(a)
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    made = _id(a)
    assert made is not None
    assert ok(cli("backup", "verify", archive, "--json", env=PASS)).json()["store_id"] == made
