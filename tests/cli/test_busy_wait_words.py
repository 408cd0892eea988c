"""A command that gives up on a busy store says how long it waited, not how long the other
writer has been writing: with ``--wait 0`` it said "another ccapki has been writing to
this store for 0 s" while the other writer had held the lock for a while."""

from __future__ import annotations

from pathlib import Path

from ccapki.store.session import Store
from kit.cli import FAQ, Cli, error_with_hint, ok


def test_giving_up_at_once_says_it_waited_0_s(cli: Cli, keyfile_store: Path) -> None:
    with Store.open(keyfile_store) as other, other.transaction():
        r = error_with_hint(cli("--wait", "0", "apply", FAQ))
    assert "error: another ccapki is writing to this store (waited 0 s); this command gave " in (
        r.err
    ), r.both
    assert "for 0 s" not in r.err
    ok(cli("apply", FAQ))  # the lock let go: the same command writes
    assert "hint: run the command again once the other one is done, or wait longer" in r.err
