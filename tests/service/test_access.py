"""Who may do what: every route of the app, each role allowed or refused exactly as the
issue says (viewer reads; operator issues, imports, makes CSRs, applies trust, renews;
admin exports keys, makes backups, manages users), anonymous refused.

The table is keyed by the app's own routes: a route added without an entry here fails
:func:`test_every_route_has_an_entry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

import ccapki
from kit.cli import FAQ
from kit.service import DEPLOYMENT, ROLES, Service

D = DEPLOYMENT
BAD_PEM = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"


@dataclass(frozen=True)
class Case:
    """A request to a route, and the least role that may make it (None: anyone)."""

    role: str | None
    path: str
    kw: Callable[[Service], dict[str, Any]] = field(default=lambda s: {})
    page: bool = False  # an HTML page: anonymous goes to the login form


def _faq_text(_: Service) -> dict[str, Any]:
    return {"json": {"text": FAQ.read_text(), "path": "faq.toml"}}


def _upload(_: Service) -> dict[str, Any]:
    return {"files": {"files": ("bad.pem", BAD_PEM, "application/x-pem-file")}}


#: (method, route path) -> the case. Ids of jobs and tokens are made by ``_setup``.
TABLE: dict[tuple[str, str], Case] = {
    # anyone
    ("GET", "/openapi.json"): Case(None, "/openapi.json"),
    ("GET", "/login/csrf"): Case(None, "/login/csrf"),
    ("POST", "/login"): Case(None, "/login", lambda s: {"data": {"name": "x", "password": "y"}}),
    ("POST", "/logout"): Case(None, "/logout"),
    ("GET", "/login"): Case(None, "/login"),
    ("GET", "/static/{name}"): Case(None, "/static/style.css"),
    ("GET", "/api/v1/health"): Case(None, "/api/v1/health"),
    # viewer: reads
    ("GET", "/api/v1/me"): Case("viewer", "/api/v1/me"),
    ("GET", "/api/v1/deployments"): Case("viewer", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments/{deployment}"): Case("viewer", f"/api/v1/deployments/{D}"),
    ("GET", "/api/v1/deployments/{deployment}/plan"): Case(
        "viewer", f"/api/v1/deployments/{D}/plan"
    ),
    ("GET", "/api/v1/deployments/{deployment}/identities"): Case(
        "viewer", f"/api/v1/deployments/{D}/identities"
    ),
    ("GET", "/api/v1/deployments/{deployment}/identities/{identity}"): Case(
        "viewer", f"/api/v1/deployments/{D}/identities/cas-dorm"
    ),
    ("GET", "/api/v1/deployments/{deployment}/identities/{identity}/{part}"): Case(
        "viewer", f"/api/v1/deployments/{D}/identities/cas-dorm/fullchain"
    ),
    ("GET", "/api/v1/deployments/{deployment}/trust/check"): Case(
        "viewer", f"/api/v1/deployments/{D}/trust/check"
    ),
    ("GET", "/api/v1/deployments/{deployment}/trust/plan"): Case(
        "viewer", f"/api/v1/deployments/{D}/trust/plan"
    ),
    ("GET", "/api/v1/deployments/{deployment}/trust/rotation"): Case(
        "viewer", f"/api/v1/deployments/{D}/trust/rotation?identity=cam"
    ),
    ("GET", "/api/v1/status"): Case("viewer", "/api/v1/status"),
    ("GET", "/api/v1/deployments/{deployment}/probes"): Case(
        "viewer", f"/api/v1/deployments/{D}/probes"
    ),
    ("GET", "/api/v1/deployments/{deployment}/renew/plan"): Case(
        "viewer", f"/api/v1/deployments/{D}/renew/plan"
    ),
    ("GET", "/api/v1/deployments/{deployment}/acme"): Case(
        "viewer", f"/api/v1/deployments/{D}/acme"
    ),
    ("GET", "/api/v1/audit"): Case("viewer", "/api/v1/audit"),
    ("GET", "/api/v1/jobs"): Case("viewer", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{job_id}"): Case("viewer", "/api/v1/jobs/1"),
    ("GET", "/"): Case("viewer", "/", page=True),
    ("GET", "/picture.svg"): Case("viewer", "/picture.svg", page=True),
    ("GET", "/inventory"): Case("viewer", "/inventory", page=True),
    ("GET", "/trust"): Case("viewer", "/trust", page=True),
    ("GET", "/certificates"): Case("viewer", "/certificates", page=True),
    ("GET", "/identities/{name}/cert.pem"): Case(
        "viewer", "/identities/cas-dorm/cert.pem", page=True
    ),
    ("GET", "/probes"): Case("viewer", "/probes", page=True),
    ("GET", "/audit"): Case("viewer", "/audit", page=True),
    ("GET", "/jobs"): Case("viewer", "/jobs", page=True),
    # operator: issue, import, CSRs, trust apply, renew (and probe, cancel jobs)
    ("POST", "/api/v1/deployments"): Case("operator", "/api/v1/deployments", _faq_text),
    ("POST", "/api/v1/deployments/{deployment}/apply"): Case(
        "operator", f"/api/v1/deployments/{D}/apply"
    ),
    ("POST", "/api/v1/deployments/{deployment}/csrs"): Case(
        "operator", f"/api/v1/deployments/{D}/csrs", lambda s: {"json": {"identities": ["cam"]}}
    ),
    ("GET", "/api/v1/deployments/{deployment}/csrs"): Case(
        "operator", f"/api/v1/deployments/{D}/csrs"
    ),
    ("GET", "/api/v1/deployments/{deployment}/csrs/{identity}"): Case(
        "operator", f"/api/v1/deployments/{D}/csrs/cas-clinic"
    ),
    ("POST", "/api/v1/deployments/{deployment}/import"): Case(
        "operator", f"/api/v1/deployments/{D}/import", _upload
    ),
    ("POST", "/api/v1/deployments/{deployment}/trust/apply"): Case(
        "operator", f"/api/v1/deployments/{D}/trust/apply", lambda s: {"json": {}}
    ),
    ("POST", "/api/v1/deployments/{deployment}/probe"): Case(
        "operator", f"/api/v1/deployments/{D}/probe", lambda s: {"json": {}}
    ),
    ("POST", "/api/v1/deployments/{deployment}/renew"): Case(
        "operator", f"/api/v1/deployments/{D}/renew", lambda s: {"json": {}}
    ),
    ("POST", "/api/v1/deployments/{deployment}/acme/order"): Case(
        "operator", f"/api/v1/deployments/{D}/acme/order", lambda s: {"json": {}}
    ),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Case("operator", "/api/v1/jobs/1/cancel"),
    ("POST", "/trust/apply"): Case("operator", "/trust/apply", page=True),
    ("POST", "/csr"): Case("operator", "/csr", lambda s: {"data": {"identity": "cam"}}, True),
    ("POST", "/upload"): Case("operator", "/upload", _upload, True),
    ("POST", "/probe"): Case("operator", "/probe", page=True),
    ("POST", "/jobs/{job_id}/cancel"): Case("operator", "/jobs/1/cancel", page=True),
    # admin: private keys, backups, users
    ("POST", "/api/v1/deployments/{deployment}/identities/{identity}/export"): Case(
        "admin",
        f"/api/v1/deployments/{D}/identities/cam/export",
        lambda s: {"json": {"format": "pkcs12", "password": "export-pw-123"}},
    ),
    ("GET", "/api/v1/backups"): Case("admin", "/api/v1/backups"),
    ("POST", "/api/v1/backups"): Case("admin", "/api/v1/backups"),
    ("GET", "/api/v1/users"): Case("admin", "/api/v1/users"),
    ("POST", "/api/v1/users"): Case(
        "admin", "/api/v1/users", lambda s: {"json": {"name": "newbie", "role": "viewer"}}
    ),
    ("PATCH", "/api/v1/users/{name}"): Case(
        "admin", "/api/v1/users/spare", lambda s: {"json": {"role": "operator"}}
    ),
    ("GET", "/api/v1/users/{name}/tokens"): Case("admin", "/api/v1/users/viewer/tokens"),
    ("POST", "/api/v1/users/{name}/tokens"): Case(
        "admin", "/api/v1/users/spare/tokens", lambda s: {"json": {"label": "x"}}
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case("admin", "/api/v1/tokens/{spare_token}"),
}


def _routes(service: Service) -> set[tuple[str, str]]:
    out = set()
    for route in iter_route_contexts(service.app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method, str(route.path)))
    return out


def test_every_route_has_an_entry(service: Service) -> None:
    routes = _routes(service)
    assert routes - set(TABLE) == set(), "routes without an entry in TABLE"
    assert set(TABLE) - routes == set(), "entries in TABLE for routes that are gone"


def _setup(service: Service) -> dict[str, str]:
    """What the table's requests refer to: job 1, a CSR of cas-clinic, a user ``spare``
    with a token (the one the admin revokes)."""
    from ccapki.service.auth import issue_token
    from ccapki.store.records import Role

    store = service.store.fork(actor="test")
    store.jobs.enqueue("apply", {}, deployment=D, created_by="test")
    dep = ccapki.stored_deployment(store, D)
    ccapki.make_csrs(store, dep, ["cas-clinic"])
    spare = store.users.add("spare", Role.VIEWER, None)
    _token, record = issue_token(store, spare, "spare")
    return {"spare_token": str(record.id)}


def _allowed(role: str | None, needed: str | None) -> bool:
    if needed is None:
        return True
    if role is None:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def test_each_role_is_allowed_or_refused_as_the_issue_says(service: Service) -> None:
    ids = _setup(service)
    seen: list[str] = []
    for (method, _route), case in sorted(TABLE.items(), key=lambda kv: str(kv[1].role)):
        path = case.path.format(**ids)
        for role in (None, *ROLES):
            client = service.client(role, follow_redirects=False)
            r = client.request(method, path, **case.kw(service))
            who = role or "anonymous"
            where = f"{method} {path} as {who}: {r.status_code} {r.text[:200]}"
            assert r.status_code < 500, where
            assert "Traceback" not in r.text, where
            if _allowed(role, case.role):
                assert r.status_code not in (401, 403) or case.role is None, where
                if case.role is None:
                    assert r.status_code != 401, where
            elif role is None:
                if case.page:
                    assert r.status_code == 303, where
                    assert r.headers["location"].startswith("/login"), where
                else:
                    assert r.status_code == 401, where
                    assert r.headers["content-type"] == "application/problem+json", where
                    assert r.json()["hint"], where
            else:
                assert r.status_code == 403, where
                if not case.page:
                    body = r.json()
                    assert body["status"] == 403, where
                    assert needed_in(body, case.role), where
            seen.append(where)
    assert len(seen) == 4 * len(TABLE)


def needed_in(body: dict[str, Any], role: str | None) -> bool:
    """The 403 names the role that is needed."""
    return role is not None and role in body["error"] and role in body["hint"]


@pytest.mark.parametrize("role", ROLES)
def test_a_refused_request_changes_nothing(service: Service, role: str) -> None:
    """A refused user-management call leaves the users as they were."""
    before = [(u.name, u.role) for u in service.store.users.list()]
    r = service.client(role).post("/api/v1/users", json={"name": f"by-{role}", "role": "admin"})
    after = [(u.name, u.role) for u in service.store.users.list()]
    if role == "admin":
        assert r.status_code == 201
        assert len(after) == len(before) + 1
    else:
        assert r.status_code == 403
        assert after == before
