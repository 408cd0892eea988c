"""Walkthrough D: a backup of another store, restored by mistake, is said to be one.

Two stores applied from the same file hold the same identity names at the same versions,
with other keys and certificates. Restoring the one's backup into the other was refused as
"the store holds newer data than the backup", which it does not (the versions are the same):
the refusal now says the two hold different certificates at the same versions, as a backup
of another store does, and asks to check the backup first. Nothing is written either way; a
backup that really is older than the store keeps its "newer data" refusal.
"""

from __future__ import annotations

from pathlib import Path

from ccapki.store import Store
from kit.cli import FAQ, CliRunner, error_with_hint, ok, write

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _store(cli: CliRunner, home: Path) -> Path:
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", FAQ, home_dir=home))
    return home


def _counts(home: Path) -> dict[str, int]:
    with Store.open(home) as s:
        return {t: s.count(t) for t in ("certificates", "keys", "cas", "trust_entries", "audit")}


def test_a_backup_of_another_store_is_not_called_older(cli: CliRunner, tmp_path: Path) -> None:
    a = _store(cli, tmp_path / "a")
    b = _store(cli, tmp_path / "b")
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    before = _counts(b)

    r = error_with_hint(cli("backup", "restore", archive, home_dir=b, env=PASS))
    error, hint = r.err.splitlines()
    assert "newer data" not in error, error
    # the backup's header names its store: said plainly, before anything is read further
    assert "the backup comes from another store" in error, error
    assert "another store" in error, error
    assert error.endswith("nothing was restored"), error
    assert "backup verify" in hint, hint
    assert "--force" in hint, hint
    assert _counts(b) == before


def test_a_really_older_backup_still_says_newer_data(cli: CliRunner, tmp_path: Path) -> None:
    a = _store(cli, tmp_path / "a")
    archive = tmp_path / "a.backup"
    ok(cli("backup", "create", "--out", archive, home_dir=a, env=PASS))
    moved = write(tmp_path / "moved.toml", FAQ.read_text().replace("10.31.0.10", "10.31.0.99"))
    ok(cli("apply", moved, home_dir=a))  # cas-annex v2: newer than the backup
    r = error_with_hint(cli("backup", "restore", archive, home_dir=a, env=PASS))
    assert "the store holds newer data than the backup for 1 identity" in r.err, r.err
    assert "(v2 in the store, v1 in the backup)" in r.err, r.err
