"""Walkthrough G: one damaged sealed key blocked every backup for good.

``backup create`` refused while any key did not open, and once the identity was renewed
after the damage, restoring the older backup to repair the key was refused as "newer data"
(only ``--force``, which also made the old certificate current). Now ``backup create
--skip-damaged`` writes everything else and names what it left out (its output, the
backup's header, so ``backup verify`` and a restore say it), the refusal's hint names the
flag, and ``backup restore FILE --identity NAME`` repairs the damaged key of an identity
whose store holds newer versions, leaving its certificates as they are.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ccapki.store import Store
from kit.cli import FAQ, CliRunner, error_with_hint, ok
from kit.damage import damage_key_in

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


def _damage_key(home: Path, identity: str) -> str:
    """Flips bytes in ``identity``'s active sealed key; returns its fingerprint."""
    return damage_key_in(home, identity)


def _certificates(home: Path, identity: str) -> list[tuple[int, str]]:
    con = sqlite3.connect(home / "ccapki.db")
    try:
        return list(
            con.execute(
                "SELECT version, fingerprint FROM certificates WHERE identity = ? ORDER BY version",
                (identity,),
            )
        )
    finally:
        con.close()


@pytest.mark.sqlite_only  # bytes of the SQLite file's row changed
def test_skip_damaged_backs_up_the_rest_and_names_what_it_left_out(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    fp = _damage_key(keyfile_store, "cam")
    out = tmp_path / "rest.backup"

    r = error_with_hint(cli("backup", "create", "--out", out, env=PASS))
    assert "--skip-damaged" in r.err, r.err
    assert not out.exists()

    r = ok(cli("backup", "create", "--out", out, "--skip-damaged", env=PASS))
    assert f"missing: key {fp} (faq-campus/cam, active)" in r.out, r.out
    assert "1 damaged key left out" in r.out, r.out
    data = ok(cli("backup", "create", "--out", out, "--skip-damaged", "--json", env=PASS)).json()
    assert [(k["identity"], k["fingerprint"], k["state"]) for k in data["skipped_keys"]] == [
        ("cam", fp, "active")
    ]

    r = ok(cli("backup", "verify", out, env=PASS))
    assert f"missing: key {fp} (faq-campus/cam, active)" in r.out, r.out
    v = ok(cli("backup", "verify", out, "--json", env=PASS)).json()
    assert v["skipped_total"] == 1
    assert v["records"]["keys"] >= 1

    # into a new store: everything else comes back, and the restore says what is missing
    other = tmp_path / "other"
    ok(cli("init", "--key-file", home_dir=other))
    r = ok(cli("backup", "restore", out, home_dir=other, env=PASS))
    assert f"missing: key {fp} (faq-campus/cam, active)" in r.out, r.out
    with Store.open(other) as s:
        held = {k.fingerprint for k in s.keys.list()}
    assert held
    assert fp not in held


@pytest.mark.sqlite_only
def test_restore_identity_repairs_a_damaged_key_after_a_renewal(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    archive = tmp_path / "before.backup"
    ok(cli("backup", "create", "--out", archive, env=PASS))
    fp = _damage_key(keyfile_store, "cam")
    ok(cli("renew", "cam", "--commit"))  # the identity moves on: v2 in the store
    certs = _certificates(keyfile_store, "cam")
    assert len(certs) == 2
    assert cli("doctor").code == 1

    r = ok(cli("backup", "restore", archive, "--identity", "cam", env=PASS))
    assert f"repaired: key {fp[:16]} (cam)" in r.out, r.out
    assert "kept: faq-campus/cam's certificates as they are" in r.out, r.out
    assert _certificates(keyfile_store, "cam") == certs  # no version added, none current
    assert ok(cli("doctor")).code == 0
    ok(cli("backup", "create", "--out", tmp_path / "after.backup", env=PASS))

    # nothing damaged any more: the newer data is refused as before
    r = error_with_hint(cli("backup", "restore", archive, "--identity", "cam", env=PASS))
    assert "newer data" in r.err, r.err
    assert _certificates(keyfile_store, "cam") == certs
