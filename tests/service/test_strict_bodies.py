"""A JSON body with a field its route does not take is refused, naming the field, and
nothing is done (walkthrough D: `PATCH /users/NAME {"active": false}` answered 200 with
the user still active, `POST /users/NAME/tokens {"expires": 1}` made a token that never
expires, `POST .../csrs {"names": [...]}` made CSRs for every third-party identity)."""

from __future__ import annotations

import pytest

from kit.service import DEPLOYMENT, Service

API = f"/api/v1/deployments/{DEPLOYMENT}"


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "field"),
    [
        ("admin", "PATCH", "/api/v1/users/viewer", {"active": False}, "active"),
        ("admin", "POST", "/api/v1/users/viewer/tokens", {"label": "x", "expires": 1}, "expires"),
        ("admin", "POST", "/api/v1/users", {"name": "eve", "rol": "admin"}, "rol"),
        ("operator", "POST", f"{API}/csrs", {"names": ["cas-clinic"]}, "names"),
        ("operator", "POST", f"{API}/renew", {"name": ["cas-dorm"]}, "name"),
        ("operator", "POST", f"{API}/trust/apply", {"prune": True, "dryrun": True}, "dryrun"),
        ("admin", "POST", f"{API}/identities/cas-dorm/export", {"format": "key", "pw": "x"}, "pw"),
    ],
)
def test_an_unknown_field_is_refused_and_nothing_is_done(
    service: Service, role: str, method: str, path: str, body: dict[str, object], field: str
) -> None:
    c = service.client(role)
    before = c.get("/api/v1/audit").json()
    r = c.request(method, path, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert f"body.{field}: no such field (a misspelt name? nothing was done)" in problem["error"]
    assert "/openapi.json" in problem["hint"]
    assert c.get("/api/v1/audit").json() == before  # nothing done, nothing audited
    admin = service.client("admin")
    users = {u["name"]: u for u in admin.get("/api/v1/users").json()}
    assert users["viewer"]["disabled"] is False
    assert "eve" not in users
    tokens = admin.get("/api/v1/users/viewer/tokens").json()
    assert [t["label"] for t in tokens] == ["viewer test token"]
    assert admin.get("/api/v1/jobs").json() == []


def test_the_right_fields_still_work(service: Service) -> None:
    admin = service.client("admin")
    r = admin.patch("/api/v1/users/viewer", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    r = admin.post("/api/v1/users/operator/tokens", json={"label": "x", "expires_days": 1})
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"] is not None
