"""A full ``backup restore FILE`` over a store holding newer data repairs damaged keys.

``backup restore FILE --identity NAME`` seals a damaged key of NAME again from the
backup's copy even when NAME was renewed since (its certificates left as they are). A full
restore (no ``--identity``) over the same store was refused as a whole ("newer data"), so
it repaired nothing: neither the renewed identity's old key nor another identity's key
the backup holds a good copy of. Now it holds the renewed identities back as ``--identity``
does (their certificates, CSRs and orders as the store holds them, damaged keys repaired),
restores the rest, and says so; with nothing damaged the newer data is refused as ever.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok
from kit.damage import damage_key_in

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _certificates(home: Path) -> list[tuple[str, int, str]]:
    con = sqlite3.connect(home / "ccapki.db")
    try:
        return list(
            con.execute(
                "SELECT identity, version, fingerprint FROM certificates ORDER BY identity, version"
            )
        )
    finally:
        con.close()


@pytest.mark.sqlite_only  # bytes of the SQLite file's rows changed
def test_a_full_restore_repairs_damaged_keys_and_keeps_newer_data(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    archive = tmp_path / "before.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    cam = damage_key_in(keyfile_store, "cam")  # the key of cam v1, then renewed: v2
    ok(cli("renew", "cam", "--commit"))
    dorm = damage_key_in(keyfile_store, "cas-dorm")  # cas-dorm's current key, not renewed
    certs = _certificates(keyfile_store)
    assert [v for n, v, _ in certs if n == "cam"] == [1, 2]
    assert cli("doctor").code == 1

    r = ok(cli("backup", "restore", archive, env=PASS))
    assert f"repaired: key {cam[:16]} (cam)" in r.out, r.out
    assert f"repaired: key {dorm[:16]} (cas-dorm)" in r.out, r.out
    assert "kept: faq-campus/cam's certificates as they are (the store holds newer" in r.out
    assert "cas-dorm's certificates" not in r.out  # restored as ever: nothing newer there
    assert _certificates(keyfile_store) == certs  # no version added, none made current
    assert ok(cli("doctor")).code == 0
    ok(cli("backup", "create", "--out", tmp_path / "after.backup", env=PASS))
    ok(cli("export", "cas-dorm", "--out", tmp_path / "dorm.pem"))

    # nothing damaged any more: the newer data is refused as before, nothing written
    r = error_with_hint(cli("backup", "restore", archive, env=PASS))
    assert "newer data than the backup for 1 identity: faq-campus/cam (v2 in the store" in r.err
    assert _certificates(keyfile_store) == certs


@pytest.mark.sqlite_only
def test_the_json_of_a_full_restore_names_what_it_repaired_and_kept(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    """Only another identity's key damaged: the renewed identity is kept as it is, the
    damaged one repaired, and --json says both; a CSR of the held-back identity made after
    the backup stays the store's alone (none of the backup's is added)."""
    ok(cli("apply", FAQ))
    archive = tmp_path / "before.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    ok(cli("renew", "cam", "--commit"))
    library = damage_key_in(keyfile_store, "cas-library")
    keys_before = ok(cli("keys", "list", "--json")).json()

    data = ok(cli("backup", "restore", archive, "--json", env=PASS)).json()
    assert data["repaired"] == [f"{library[:16]} (cas-library)"]
    assert data["repair_only"] == ["faq-campus/cam"]
    assert data["added"].get("certificates", 0) == 0
    keys_after = ok(cli("keys", "list", "--json")).json()
    assert sorted((k["fingerprint"], k["state"]) for k in keys_after) == sorted(
        (k["fingerprint"], k["state"]) for k in keys_before
    )
    assert ok(cli("doctor")).code == 0
