"""Backups carry the ACME account (its key re-sealed under the target store's data key) and
the orders: a store restored into a fresh one keeps its account at the CA (pebble), so the
next order registers nothing new."""

from __future__ import annotations

from pathlib import Path

import pytest
from acme_servers import Pebble, campus_file, store_rows

from kit.cli import Cli, ok
from kit.storecheck import check_store

pytestmark = pytest.mark.integration

_BACKUP_PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a long enough backup passphrase"}


def test_restored_store_keeps_its_acme_account(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    ok(cli("acme", "order"))
    (before,) = store_rows(keyfile_store, "SELECT uri, fingerprint, sealed FROM acme_accounts")
    archive = tmp_path / "store.backup"
    r = ok(cli("backup", "create", "--out", archive, "--json", env=_BACKUP_PASS))
    assert r.json()["records"]["acme_accounts"] == 1
    assert r.json()["records"]["acme_orders"] == 1
    r = ok(cli("backup", "verify", archive, env=_BACKUP_PASS))

    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))  # another data key
    r = ok(cli("backup", "restore", archive, "--json", home_dir=fresh, env=_BACKUP_PASS))
    assert r.json()["added"]["acme_accounts"] == 1
    assert r.json()["added"]["acme_orders"] == 1
    (restored,) = store_rows(fresh, "SELECT uri, fingerprint, sealed FROM acme_accounts")
    assert restored["uri"] == before["uri"]
    assert restored["fingerprint"] == before["fingerprint"]
    assert restored["sealed"] != before["sealed"]  # re-sealed under the fresh store's key
    # a second restore keeps what the store holds: nothing twice
    r = ok(cli("backup", "restore", archive, "--json", home_dir=fresh, env=_BACKUP_PASS))
    assert r.json()["added"].get("acme_accounts", 0) == 0
    assert r.json()["kept"]["acme_orders"] == 1

    registrations = len(store_rows(fresh, "SELECT id FROM audit WHERE action = 'acme-account'"))
    r = ok(cli("acme", "order", "cam", home_dir=fresh))
    assert "ordered cam v2" in r.out, r.both
    # the same account signed the order: no new registration, the URL unchanged
    (after,) = store_rows(fresh, "SELECT id, uri, fingerprint FROM acme_accounts")
    assert after["uri"] == before["uri"]
    assert after["fingerprint"] == before["fingerprint"]
    assert len(store_rows(fresh, "SELECT id FROM audit WHERE action = 'acme-account'")) == (
        registrations
    )
    orders = store_rows(fresh, "SELECT state, account_id FROM acme_orders ORDER BY id")
    assert [o["state"] for o in orders] == ["valid", "valid"]
    assert {o["account_id"] for o in orders} == {after["id"]}
    # the restored order's certificate can be revoked with the restored account key
    ok(cli("acme", "status", home_dir=fresh))
    check_store(fresh)
