"""A store at an older schema, not yet `ccapki upgrade`d: the commands that work with no
store at all (``inspect FILE``, ``plan FILE``, ``--help``) work on it too, with one note
line naming the upgrade for the rest (they were refused with exit 2, so a returned
certificate could not be inspected before the upgrade); the refusal of the others names
the exact next command (`ccapki --home X upgrade`, not `ccapki upgrade`, which upgrades
another store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.certs import mint, pem
from kit.cli import FAQ, Cli, db_bytes, error_with_hint
from kit.migrations import downgrade_store
from kit.pgmode import BACKEND

OLD = "0009_deployment_facts"


@pytest.fixture
def old_store(cli: Cli, keyfile_store: Path) -> Path:
    """The FAQ deployment applied, then the store taken back to an older schema."""
    assert cli("apply", FAQ).code == 0
    downgrade_store(keyfile_store, OLD)
    return keyfile_store


def _upgrade_command(home: Path) -> str:
    # on PostgreSQL the store is CCAPKI_DATABASE_URL's: `ccapki upgrade` with it set
    return "ccapki upgrade" if BACKEND == "postgresql" else f"ccapki --home {home} upgrade"


@pytest.mark.parametrize("args", [["inspect", "{cert}"], ["plan", str(FAQ)], ["plan", "--help"]])
def test_what_needs_no_store_works_on_an_older_store(
    cli: Cli, old_store: Path, tmp_path: Path, args: list[str]
) -> None:
    cert = tmp_path / "returned.pem"
    cert.write_bytes(pem(mint("returned.example.edu").cert))
    before = db_bytes(old_store)
    r = cli(*(a.format(cert=cert) for a in args))
    assert r.code == 0, r.both
    if "--help" in args:
        assert "EXAMPLES" in r.out
    else:
        assert "returned.example.edu" in r.out if args[0] == "inspect" else "6" in r.out
        notes = [line for line in r.err.splitlines() if "upgrade" in line]
        assert len(notes) == 1, r.err
        assert notes[0].startswith("note: the store's schema (" + OLD), r.err
        assert f"`{_upgrade_command(old_store)}`" in notes[0]
    assert db_bytes(old_store) == before  # nothing migrated behind the administrator's back


def test_the_refusal_names_the_exact_upgrade_command(cli: Cli, old_store: Path) -> None:
    r = error_with_hint(cli("status"))
    assert f"`{_upgrade_command(old_store)}`" in r.err


@pytest.mark.sqlite_only  # the store folder named by CCAPKI_HOME
def test_the_refusal_names_ccapki_home_when_it_names_the_store(cli: Cli, old_store: Path) -> None:
    r = error_with_hint(cli("keys", "list", home_dir=None, env={"CCAPKI_HOME": str(old_store)}))
    assert f"`CCAPKI_HOME={old_store} ccapki upgrade`" in r.err
    ok = cli("upgrade", home_dir=None, env={"CCAPKI_HOME": str(old_store)})
    assert ok.code == 0, ok.both


@pytest.mark.sqlite_only  # the SQLite file's copy
def test_doctor_notes_the_copy_upgrade_kept_until_it_is_deleted(cli: Cli, old_store: Path) -> None:
    assert cli("upgrade").code == 0
    (made,) = old_store.glob(f"ccapki.db.{OLD}.*")
    # the copy as made ten days before the clock doctor reads (CCAPKI_NOW)
    copy = made.rename(old_store / f"ccapki.db.{OLD}.20261117T000000Z")
    now = {"CCAPKI_NOW": "2026-11-27T12:00:00+00:00"}
    r = cli("doctor", "--json", env=now)
    assert r.code == 0, r.both  # a warning, not an error
    (p,) = [p for p in r.json()["problems"] if p["code"] == "upgrade-copy-kept"]
    assert p["severity"] == "warning"
    assert p["subject"] == str(copy)
    assert "2026-11-17 00:00 UTC, 10 days ago" in p["message"]
    assert f"`rm {copy}`" in p["fix"]
    assert "once the upgraded store serves you" in p["fix"]
    text = cli("doctor", env=now)
    assert str(copy) in text.out, text.both
    copy.unlink()
    r = cli("doctor", "--json", env=now)
    assert not [p for p in r.json()["problems"] if p["code"] == "upgrade-copy-kept"]
