"""``ccapki users set-password NAME``: the one way back for an admin who forgot the
password or locked the name out (walkthrough: five wrong tries locked the only admin out
for 15 minutes and no command could set a password: only an admin's web session could)."""

from __future__ import annotations

import io
import sys

import pytest

from kit.cli import Cli, error_with_hint, ok
from kit.service import PASSWORDS, Service, login


def test_set_password_lets_a_locked_out_admin_in_at_once(
    service: Service, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = service.client()
    for _ in range(5):
        assert login(web, "admin", "not the password").status_code == 401
    assert login(web, "admin", PASSWORDS["admin"]).status_code == 429  # locked out
    monkeypatch.setattr(sys, "stdin", io.StringIO("a brand new password\n"))
    r = ok(cli("users", "set-password", "admin", "--password-stdin"))
    assert r.out == "set the password of admin (its failed logins forgotten)\n"
    assert "brand new" not in r.both
    assert login(web, "admin", PASSWORDS["admin"]).status_code == 401  # the old one: gone
    assert login(service.client(), "admin", "a brand new password").status_code == 200


def test_set_password_refusals_change_nothing(
    service: Service, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a brand new password\n"))
    r = error_with_hint(cli("users", "set-password", "nobody", "--password-stdin"))
    assert "no user named 'nobody'" in r.err
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    r = error_with_hint(cli("users", "set-password", "viewer", "--password-stdin"))
    assert "too short" in r.err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    r = error_with_hint(cli("users", "set-password", "viewer"))  # no terminal, no flag
    assert "--password-stdin" in r.err
    assert login(service.client(), "viewer", PASSWORDS["viewer"]).status_code == 200
