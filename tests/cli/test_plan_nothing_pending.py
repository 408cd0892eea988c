"""``plan FILE`` on a store where every identity is up to date."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok


def test_plan_says_none_when_nothing_is_pending(cli: Cli, keyfile_store: Path) -> None:
    """Walkthrough: "pending actions: 6 nothing to do" read as six things to do."""
    ok(cli("apply", FAQ))
    r = ok(cli("plan", FAQ))
    assert r.out.splitlines()[-1] == "pending actions: none (6 identities up to date)", r.out
