"""Walkthrough A: ``--home ~nosuchuser/ccapki`` (or ``CCAPKI_HOME=~nosuchuser/...``, a
typo in a cron job's environment) exited 70, "internal error: RuntimeError: Could not
determine home directory ... this is a ccapki bug". It is bad input: exit 2 with the
path and a hint, on every command that finds the store (those that need none too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint

NO_USER = "~ccapki-no-such-user-4711"


@pytest.mark.parametrize("args", [("deployments",), ("status", "--json"), ("plan", str(FAQ))])
def test_a_home_of_no_user_is_bad_input(cli: Cli, args: tuple[str, ...]) -> None:
    r = error_with_hint(cli("--home", f"{NO_USER}/ccapki", *args, home_dir=None))
    first, hint = r.err.splitlines()[:2]
    assert (
        first == f"error: --home {NO_USER}/ccapki: {NO_USER} names no home folder on this machine"
    )
    assert "full path" in hint
    assert r.out == ""


def test_ccapki_home_of_no_user_is_named_as_the_variable(cli: Cli, tmp_path: Path) -> None:
    r = cli("deployments", home_dir=None, env={"CCAPKI_HOME": f"{NO_USER}/x"})
    assert error_with_hint(r).err.startswith(f"error: CCAPKI_HOME {NO_USER}/x:")
