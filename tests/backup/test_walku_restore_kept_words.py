"""Walkthrough U: a full ``backup restore`` that repairs another identity's damaged key
said of the renewed identity it held back "only its damaged keys were repaired", though
none of its keys was damaged (nothing of it was repaired). The ``kept:`` line now says what
was done to it: nothing, its keys repaired only where damaged, as docs/backup-format.md
says."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, ok
from kit.damage import damage_key_in

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


@pytest.mark.sqlite_only  # bytes of the SQLite file's rows changed
def test_the_kept_line_does_not_claim_a_repair_it_did_not_make(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    archive = tmp_path / "before.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    ok(cli("renew", "cam", "--commit"))
    library = damage_key_in(keyfile_store, "cas-library")

    r = ok(cli("backup", "restore", archive, env=PASS))
    assert f"repaired: key {library[:16]} (cas-library)" in r.out, r.out
    kept = [line for line in r.out.splitlines() if line.startswith("kept: faq-campus/cam")]
    assert len(kept) == 1, r.out
    assert "damaged keys were repaired" not in kept[0], kept[0]
    assert "not restored" in kept[0], kept[0]
