"""Walkthrough U: ``ccapki keys list --help`` said it exits 2 for "a wrong passphrase",
but it reads the store's columns only (fingerprint, state, type, where: never a key), so
it asks for no passphrase and lists with a wrong one too, exit 0. The help says so now."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok


def test_keys_list_needs_no_passphrase_and_its_help_says_so(cli: Cli, home: Path) -> None:
    ok(cli("init", env={"CCAPKI_PASSPHRASE": "the right passphrase"}))
    ok(cli("apply", FAQ, env={"CCAPKI_PASSPHRASE": "the right passphrase"}))
    for passphrase in ("a wrong passphrase", None):
        r = ok(cli("keys", "list", "--json", env={"CCAPKI_PASSPHRASE": passphrase}))
        assert len(r.json()) >= 8  # 2 CA keys, 6 identities' keys
    text = ok(cli("keys", "list", "--help")).out
    codes = text.split("EXIT CODES", 1)[1]
    assert "passphrase" in codes  # said: none is needed
    assert "wrong passphrase" not in codes, codes
