"""An apply stopped after its last identity and before its trust stores were filled (they
are filled in their own transaction, which the signal rolls back) leaves every identity
current and the trust stores empty. Walkthrough: `apply --dry-run` then said "nothing to
do", and the apply that filled them ended with "nothing to do" too. Now the dry run says
what it would add, and the apply says what it added."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from kit.cli import FAQ, Cli, db_bytes, ok
from kit.pgmode import store_sql


def test_trust_stores_left_empty_are_said_then_filled(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    with store_sql(keyfile_store) as conn:
        left = conn.execute(text("DELETE FROM trust_entries")).rowcount
    assert left > 0
    assert cli("trust", "check").code == 1
    # doctor says so too (it reported nothing wrong)
    r = cli("doctor", "--json")
    gaps = [p for p in r.json()["problems"] if p["code"] == "trust-incomplete"]
    assert len(gaps) == 1, r.out
    assert f"{left} trust-store entries" in gaps[0]["message"]
    assert "trust apply" in gaps[0]["fix"]

    before = db_bytes(keyfile_store)
    dry = ok(cli("apply", FAQ, "--dry-run"))
    assert "nothing to do" not in dry.out
    assert dry.out.count("would add ") == left, dry.out
    assert f"every identity is issued and current; {left} trust-store entries to add" in dry.out
    assert db_bytes(keyfile_store) == before  # a dry run writes nothing

    done = ok(cli("apply", FAQ))
    assert "nothing to do" not in done.out
    assert done.out.count("added ") == left, done.out
    assert f"{left} trust-store entries added" in done.out
    assert cli("trust", "check").code == 0
    r = cli("doctor", "--json")
    assert not [p for p in r.json()["problems"] if p["code"] == "trust-incomplete"], r.out
    assert "nothing to do: every identity is issued and current" in ok(cli("apply", FAQ)).out


def test_a_dry_run_on_a_fresh_store_says_every_change(cli: Cli, keyfile_store: Path) -> None:
    """Second walkthrough: the dry run left out the CAs apply creates and the trust-store
    entries that follow the new certificates."""
    before = db_bytes(keyfile_store)
    out = ok(cli("apply", FAQ, "--dry-run")).out.splitlines()
    assert out[:2] == ["would create the internal root CA", "would create the internal issuing CA"]
    assert sum(line.startswith("would issue ") for line in out) == 6
    assert out[-1].startswith("would then add to each trust store what the new certificates")
    assert db_bytes(keyfile_store) == before
    made = ok(cli("apply", FAQ)).out
    assert made.count("created CA ") == 2
    assert "would" not in made
