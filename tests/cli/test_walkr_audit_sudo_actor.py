"""Two administrators sharing one store on one machine work as the store's account, through
sudo (the store folder is 0700, its files 0600): the audit log names who ran sudo beside
that account (as sudo's own log does), so it tells them apart (walkthrough R). Without
sudo, or sudo to oneself, the actor is the account as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.store import Store
from kit.cli import FAQ, Cli, ok


def _actors(home: Path, action: str) -> set[str | None]:
    with Store.open(home) as s:
        return {e.actor for e in s.audit.log(1000) if e.action == action}


def test_the_audit_names_the_administrator_behind_sudo(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "ccapki")  # what sudo -u ccapki sets
    monkeypatch.setenv("USER", "ccapki")
    monkeypatch.setenv("SUDO_USER", "ann")
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    assert _actors(home, "issue") == {"ann (sudo as ccapki)"}
    monkeypatch.setenv("SUDO_USER", "bob")
    ok(cli("renew", "cas-dorm", "--commit"))
    assert _actors(home, "renew") == {"bob (sudo as ccapki)"}


def test_without_sudo_the_actor_is_the_account(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "ccapki")
    monkeypatch.setenv("USER", "ccapki")
    monkeypatch.delenv("SUDO_USER", raising=False)
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    assert _actors(home, "issue") == {"ccapki"}
    monkeypatch.setenv("SUDO_USER", "ccapki")  # sudo to oneself: said once
    ok(cli("renew", "cas-dorm", "--commit"))
    assert _actors(home, "renew") == {"ccapki"}
