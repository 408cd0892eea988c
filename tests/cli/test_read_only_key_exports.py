"""Walkthrough: on a read-only store, a command that writes a private key out (export of a
key format, backup create, backup appliance) must refuse before writing anything: each such
write goes to the audit log, which a read-only store cannot take. Before the fix the key
file was written, then the audit entry failed: an unaudited key on disk, an error saying
"this command writes", and a hint saying export works."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok
from kit.readonly import run_read_only


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


@pytest.mark.sqlite_only  # a read-only SQLite file (PostgreSQL: the server's rights)
def test_key_exports_refuse_a_read_only_store_and_write_nothing(
    applied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCAPKI_EXPORT_PASSWORD", "export-pw-1")
    monkeypatch.setenv("CCAPKI_BACKUP_PASSPHRASE", "backup-passphrase-1")
    out = tmp_path / "outs"
    out.mkdir()
    runs = (
        ("export", "cas-dorm", "--out", str(out / "cas-dorm.pem")),
        ("export", "cas-dorm", "--for-peer", "--out", str(out / "peer.p12")),
        ("backup", "create", "--out", str(out / "all.backup")),
        ("backup", "appliance", "cas-dorm", "--out", str(out / "kit")),
    )
    for args in runs:
        r = error_with_hint(run_read_only(applied, *args))
        assert "read-only" in r.err, r.both
        assert "audit" in r.err, r.both
        assert "nothing was written" in r.err, r.both
    assert sorted(p.name for p in out.rglob("*")) == []
    # to standard output: not one byte of the key either
    r = error_with_hint(
        run_read_only(applied, "export", "cas-dorm", "--out", "-", "--force-stdout")
    )
    assert "PRIVATE KEY" not in r.out, r.both
    assert r.out == "", r.both


@pytest.mark.sqlite_only
def test_certificate_exports_still_work_on_a_read_only_store(applied: Path, tmp_path: Path) -> None:
    out = tmp_path / "cas-dorm-full.pem"
    ok(run_read_only(applied, "export", "cas-dorm", "--format", "fullchain", "--out", str(out)))
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
