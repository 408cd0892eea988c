"""Issue 8 items 12 (first half), 13 and the passphrase messages of 15: where and how the
store is created, and who else can read it.

The database holds the sealed keys and the wrapped data key: it is created 0600, a folder
``init`` creates is 0700, and (as ssh does) every command warns when the folder, the
database or ``data.key`` is open to other users, naming the ``chmod`` that fixes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ccapki.store.keyring import Keyring
from kit.cli import PASSPHRASE, CliRunner, deployment, write
from kit.pgmode import BACKEND, has_store, store_sql


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    """The usual umask: files 0644 and folders 0755 unless ccapki says otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning:")]


def test_home_that_is_a_file_is_a_clean_error(cli: CliRunner, tmp_path: Path) -> None:
    f = tmp_path / "not-a-folder"
    f.write_text("mine\n")
    r = cli("init", "--key-file", home_dir=f)
    assert r.code == 2, r.both
    assert r.err.startswith(f"error: {f} is a file, not a folder"), r.err
    assert "\nhint: " in r.err
    assert f.read_text() == "mine\n"
    below = cli("init", "--key-file", home_dir=f / "store")
    assert below.code == 2, below.both
    assert below.err.startswith("error: "), below.err


@pytest.mark.parametrize("key_file", [True, False])
def test_init_creates_private_files_and_folder(
    cli: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch, fast_scrypt: None, key_file: bool
) -> None:
    if not key_file:
        monkeypatch.setenv("CCAPKI_PASSPHRASE", PASSPHRASE)
    r = cli("init", *(["--key-file"] if key_file else []))
    assert r.code == 0, r.both
    assert _warnings(r.err) == []
    assert _mode(home) == 0o700
    if BACKEND == "sqlite":  # on PostgreSQL the server keeps the rows
        assert _mode(home / "ccapki.db") == 0o600
    if key_file:
        assert _mode(home / "data.key") == 0o600
    r = cli("keys", "list")
    assert r.code == 0, r.both
    assert _warnings(r.err) == []
    for wal in home.glob("ccapki.db-*"):  # SQLite gives WAL files the database's mode
        assert _mode(wal) == 0o600, wal


def test_init_in_an_existing_open_folder_warns_and_keeps_its_mode(
    cli: CliRunner, home: Path
) -> None:
    home.mkdir(mode=0o755)
    r = cli("init", "--key-file")
    assert r.code == 0, r.both
    (line,) = _warnings(r.err)
    assert str(home) in line
    assert f"chmod 700 {home}" in line
    assert _mode(home) == 0o755  # a folder ccapki did not create is the admin's to change
    if BACKEND == "sqlite":
        assert _mode(home / "ccapki.db") == 0o600


@pytest.mark.parametrize(
    ("name", "mode", "fix"),
    [
        (".", 0o755, "chmod 700 {home}"),
        (".", 0o770, "chmod 700 {home}"),
        pytest.param(
            "ccapki.db", 0o644, "chmod 600 {home}/ccapki.db", marks=pytest.mark.sqlite_only
        ),
        pytest.param(
            "ccapki.db", 0o660, "chmod 600 {home}/ccapki.db", marks=pytest.mark.sqlite_only
        ),
        ("data.key", 0o644, "chmod 600 {home}/data.key"),
    ],
)
def test_open_warns_like_ssh_when_others_can_read(
    cli: CliRunner, home: Path, name: str, mode: int, fix: str
) -> None:
    assert cli("init", "--key-file").code == 0
    os.chmod(home / name, mode)
    r = cli("keys", "list")
    assert r.code == 0, r.both
    (line,) = _warnings(r.err)
    assert fix.format(home=home) in line, line
    # once per command, however often it opens the store
    r = cli("trust", "check")
    assert len(_warnings(r.err)) <= 1
    os.chmod(home / name, 0o700 if name == "." else 0o600)
    assert _warnings(cli("keys", "list").err) == []


def test_passphrase_rules(
    cli: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch, fast_scrypt: None
) -> None:
    # empty: said so, at init and when opening
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "")
    r = cli("init")
    assert r.code == 2
    assert r.err.startswith("error: CCAPKI_PASSPHRASE is set but empty"), r.err
    assert not home.exists()
    # too short at init: a minimum of 8 characters, said in the hint
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "abc")
    r = cli("init")
    assert r.code == 2
    assert "too short" in r.err.splitlines()[0]
    assert "at least 8 characters" in r.err.splitlines()[1]
    assert not has_store(home)
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "eight ch")
    assert cli("init").code == 0
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "")
    r = cli("apply", str(write(home.parent / "d.toml", deployment())))
    assert r.code == 2
    assert r.err.startswith("error: CCAPKI_PASSPHRASE is set but empty"), r.err
    assert "wrong passphrase" not in r.err


def test_opening_a_store_with_a_short_passphrase_still_works(
    cli: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores made before the minimum keep opening with their passphrase."""
    from ccapki.store import Store

    Store.init(home, key_file=True).close()
    # replace the key-file record with one wrapped under a short passphrase, as an older
    # ccapki could write
    data_key = bytes.fromhex((home / "data.key").read_text().strip())
    record = Keyring.wrap_with_passphrase(data_key, "abc", n=2**10)
    with store_sql(home) as conn:
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'keyring'"), {"v": record.to_json()}
        )
    (home / "data.key").unlink()
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "abc")
    # apply unseals the store's keys (export-roots of an empty store is refused: no roots yet)
    r = cli("apply", str(write(home.parent / "d.toml", deployment())))
    assert r.code == 0, r.both
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "abd")
    assert cli("apply", str(home.parent / "d.toml")).code == 2  # the passphrase is checked
