"""User names are unique whatever their case, so every lookup by name finds the user
whatever the case it is typed in (walkthrough: ``ccapki users set-role ANN admin`` said
"no user named 'ANN'" for user ``ann``). The stored name keeps its case."""

from __future__ import annotations

import io
import sys

import pytest

from ccapki.store.records import Role
from kit.cli import Cli, error_with_hint, ok
from kit.service import PASSWORDS, Service, login


def test_cli_commands_find_a_user_whatever_the_case(
    service: Service, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ok(cli("users", "set-role", "VIEWER", "operator")).out == "viewer is operator\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a brand new password\n"))
    r = ok(cli("users", "set-password", "Viewer", "--password-stdin"))
    assert r.out == "set the password of viewer (its failed logins forgotten)\n"
    assert ok(cli("users", "disable", "VIEWER")).out == "disabled viewer\n"
    assert ok(cli("users", "enable", "viEWer")).out == "enabled viewer\n"
    r = ok(cli("users", "token", "VIEWER", "--label", "case"))
    assert "for viewer" in r.err
    assert "case" in ok(cli("users", "tokens", "VIEWER")).out
    users = {u.name: u for u in service.store.users.list()}
    assert set(users) == {"viewer", "operator", "admin"}  # the stored names keep their case
    assert users["viewer"].role is Role.OPERATOR
    assert users["viewer"].active
    # a name stored in mixed case keeps it, found by any spelling
    ok(cli("users", "add", "Ann.Lee", "--role", "viewer", "--no-password"))
    assert ok(cli("users", "set-role", "ann.lee", "admin")).out == "Ann.Lee is admin\n"
    assert service.store.users.get("ANN.LEE").name == "Ann.Lee"
    r = error_with_hint(cli("users", "add", "ANN.LEE", "--role", "viewer", "--no-password"))
    assert "exists already" in r.err
    # a name that is nobody's in any case is still refused
    r = error_with_hint(cli("users", "set-role", "VIEWERS", "admin"))
    assert "no user named 'VIEWERS'" in r.err


def test_web_and_rest_find_a_user_whatever_the_case(service: Service) -> None:
    r = login(service.client(), "ADMIN", PASSWORDS["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "admin"
    admin = service.client("admin")
    r = admin.get("/api/v1/users/VIEWER/tokens")
    assert r.status_code == 200, r.text
    assert [t["user"] for t in r.json()] == ["viewer"]
    r = admin.post("/api/v1/users/Viewer/tokens", json={"label": "case"})
    assert r.status_code == 201, r.text
    assert r.json()["user"] == "viewer"
    r = admin.patch("/api/v1/users/OPERATOR", json={"role": "viewer"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "operator"
    # an admin cannot disable itself by typing its name in another case either; the only
    # admin is refused as the last one (409, as docs/service.md says; a walkthrough got 400
    # and "ask another admin" with no other admin)
    r = admin.patch("/api/v1/users/ADMIN", json={"disabled": True})
    assert r.status_code == 409, r.text
    assert "'admin' is the last active admin" in r.json()["error"]
    assert "make another user admin first" in r.json()["hint"]
    r = admin.post("/api/v1/users", json={"name": "ann", "role": "admin"})
    assert r.status_code == 201, r.text
    r = admin.patch("/api/v1/users/ADMIN", json={"role": "viewer"})
    assert r.status_code == 400, r.text
    assert "cannot demote or disable itself" in r.json()["error"]
    assert "ask another admin (ann;" in r.json()["hint"]


def test_a_wrong_password_under_another_case_still_counts(service: Service) -> None:
    web = service.client()
    for _ in range(5):
        assert login(web, "Admin", "not the password").status_code == 401
    assert login(web, "admin", PASSWORDS["admin"]).status_code == 429
