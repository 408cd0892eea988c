"""Walkthrough: `ccapki doctor` right after `ccapki backup restore` into a fresh store
warned "no backup on record", though the restore proves a backup exists. The backup a
store was restored from now counts as its last known backup (its creation time, from the
restore's audit entry): no warning while it is recent, `backup-old` naming it when not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ccapki.lifecycle.doctor import Severity, backup_problems
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok

ENV = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _restored(cli: Cli, tmp_path: Path, made: dt.datetime) -> Path:
    """The FAQ store backed up at ``made``, restored into a fresh store (returned)."""
    ok(cli("apply", FAQ))
    archive = tmp_path / "nightly.backup"
    ok(cli("backup", "create", "--out", archive, env=ENV, now=made))
    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))
    ok(cli("backup", "restore", archive, home_dir=fresh, env=ENV))
    return fresh


def test_doctor_after_a_restore_knows_a_backup(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    fresh = _restored(cli, tmp_path, NOW - dt.timedelta(days=1))
    r = cli("doctor", "--json", home_dir=fresh)
    assert r.code == 0, r.both
    assert r.json()["problems"] == [], r.out
    assert "no backup on record" not in cli("doctor", home_dir=fresh).both


def test_doctor_after_restoring_an_old_backup_says_which(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    fresh = _restored(cli, tmp_path, NOW - dt.timedelta(days=10))
    r = cli("doctor", "--json", home_dir=fresh)
    (p,) = r.json()["problems"]
    assert p["code"] == "backup-old", r.out
    assert "restored from" in p["message"], p
    assert "nightly.backup" in p["message"], p
    assert "10 days ago" in p["message"], p
    # a backup made of the restored store afterwards is the newer one
    ok(cli("backup", "create", "--out", tmp_path / "again.backup", env=ENV, home_dir=fresh))
    assert cli("doctor", "--json", home_dir=fresh).json()["problems"] == []


def test_restored_backup_rules() -> None:
    old = (NOW - dt.timedelta(days=9), "/b/x.backup")
    recent = (NOW - dt.timedelta(days=1), "/b/y.backup")
    assert backup_problems(None, NOW, restored=recent) == []
    (p,) = backup_problems(None, NOW, restored=old)
    assert p.code == "backup-old"
    assert p.severity is Severity.WARNING
    assert "/b/x.backup" in p.message
    # the newer of a backup made and a backup restored counts
    assert backup_problems(NOW - dt.timedelta(days=2), NOW, restored=old) == []
    (p,) = backup_problems(NOW - dt.timedelta(days=20), NOW, restored=old)
    assert "9 days ago" in p.message
