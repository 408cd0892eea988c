"""What a key that does not open tells the administrator to do (walkthrough D).

- A key-file store whose ``data.key`` is valid but another store's: every command said "the
  store is damaged or was mixed with another store's rows; restore a backup", where the
  fix is to put back the store's own data.key. The hint now sends them to ``ccapki doctor``,
  which tells the two apart (and says which).
- A passphrase store opened with a wrong passphrase: the hint named only the right
  passphrase; a forgotten one has a way out too (a backup restored into a new store).
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, PASSPHRASE, Cli, error_with_hint, ok


def test_a_data_key_of_another_store_sends_the_administrator_to_doctor(
    cli: Cli, keyfile_store: Path
) -> None:
    ok(cli("apply", str(FAQ)))
    (keyfile_store / "data.key").write_text(f"{5:064x}\n")
    out = keyfile_store.parent / "cam.pem"
    r = error_with_hint(cli("export", "cam", "--out", str(out)))
    assert "does not open with this store's key" in r.err, r.err
    assert "ccapki doctor" in r.err, r.err
    assert not out.exists()
    r = cli("doctor")
    assert "data.key" in r.out + r.err, r.both


def test_a_wrong_passphrase_says_the_way_out_of_a_forgotten_one(cli: Cli) -> None:
    ok(cli("init", env={"CCAPKI_PASSPHRASE": PASSPHRASE}))
    ok(cli("apply", str(FAQ), env={"CCAPKI_PASSPHRASE": PASSPHRASE}))
    r = error_with_hint(
        cli("export", "cam", "--out", "cam.pem", env={"CCAPKI_PASSPHRASE": "not it at all"})
    )
    assert "wrong passphrase" in r.err, r.err
    assert "backup restore" in r.err, r.err
