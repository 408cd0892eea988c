"""Walkthrough D: one sealed key damaged in the store (bytes of its row changed).

``doctor`` reports it with the fix "restore it from a backup: ``ccapki backup restore FILE
--identity cam``", but that restore kept the damaged row (a key the store holds, by
fingerprint, was always kept), said "0 keys re-sealed" and left ``doctor`` failing: no
command could repair it. ``backup create`` stopped at it with "the store is damaged or was
mixed with another store's rows; restore a backup", naming neither the key's identity nor
how. Now the restore seals such a key again from the backup's copy (once that copy proves
to be the key of the fingerprint) and says so, and ``backup create`` names the key, its
identity and state, and the restore that repairs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok
from kit.damage import damage_key_in

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _damage_key(home: Path, identity: str) -> str:
    """Flips bytes in ``identity``'s active sealed key; returns its fingerprint."""
    return damage_key_in(home, identity)


@pytest.mark.sqlite_only  # bytes of the SQLite file's row changed
def test_a_damaged_key_is_named_by_backup_create_and_repaired_by_restore(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    archive = tmp_path / "before.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    fp = _damage_key(keyfile_store, "cam")

    r = error_with_hint(cli("backup", "create", "--out", tmp_path / "after.backup", env=PASS))
    assert f"key {fp[:16]} (cam, active) does not open" in r.err, r.err
    assert "backup restore FILE --identity cam" in r.err, r.err
    assert not (tmp_path / "after.backup").exists()
    assert cli("doctor").code == 1

    r = ok(cli("backup", "restore", archive, "--identity", "cam", env=PASS))
    assert f"repaired: key {fp[:16]} (cam)" in r.out, r.out
    assert ok(cli("doctor")).code == 0
    ok(cli("backup", "create", "--out", tmp_path / "after.backup", env=PASS))
    ok(cli("export", "cam", "--out", tmp_path / "cam.pem"))
    data = ok(cli("backup", "restore", archive, "--json", env=PASS)).json()
    assert data["repaired"] == []  # whole again: nothing more to repair
