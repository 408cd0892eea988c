"""The inventory one page at a time (limit + cursor, a total, in the OpenAPI schema), bad
limits and cursors as 422 problems, and the status report each instance keeps until a write
lands (another instance's or the CLI's)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

import ccapki
from ccapki.lifecycle.inventory import DEFAULT_LIMIT, MAX_LIMIT, encode_cursor
from ccapki.lifecycle.status_pages import StatusPages
from ccapki.service.app import create_app
from kit.certs import NOW
from kit.cli import FAQ
from kit.service import DEPLOYMENT, EXTRA_THIRD_PARTY, Service, config_for, running

INVENTORY = f"/api/v1/deployments/{DEPLOYMENT}/identities"
PROBLEM = "application/problem+json"


def _with_missing(service: Service) -> list[str]:
    """Apply the FAQ plus :data:`kit.service.EXTRA_THIRD_PARTY`; the inventory's order
    from the store itself: current identities by (not_after, name), then those without a
    certificate, by name."""
    dep = ccapki.parse_deployment(FAQ.read_text() + EXTRA_THIRD_PARTY, "faq-extra.toml")
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, path="faq-extra.toml")
        with store.scoped(DEPLOYMENT):
            current = store.identities.current()
    held = sorted(current, key=lambda n: (current[n].not_after, n))
    planned = {i.name for i in dep.identities}
    assert planned - set(current) == {"cas-aaa", "cas-bbb"}
    return [*held, "cas-aaa", "cas-bbb"]


def _walk(c: httpx.Client, limit: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params: dict[str, object] = {"limit": limit}
    while True:
        r = c.get(INVENTORY, params=params)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        params = {"limit": limit, "cursor": cursor}


def test_pages_first_next_last_cover_every_identity_once(service: Service) -> None:
    c = service.client("viewer")
    expected = _with_missing(service)
    whole = c.get(INVENTORY).json()  # the default page holds the FAQ's few
    assert whole["limit"] == DEFAULT_LIMIT
    assert whole["total"] == len(expected)
    assert whole["next_cursor"] is None
    assert [i["name"] for i in whole["items"]] == expected
    missing = [i for i in whole["items"] if i["stage"] == "missing"]
    assert [i["name"] for i in missing] == ["cas-aaa", "cas-bbb"]  # last, whatever the name
    assert all(i["not_after"] is None and i["days_left"] is None for i in missing)

    # 1: a cursor between the missing ones; 4: a page holds certificates and missing ones
    # and the last page is full; 5: the last page is short
    for limit in (1, 4, 5):
        pages = _walk(c, limit)
        first, *middle, last = pages
        assert len(pages) == -(-len(expected) // limit), limit
        assert all(p["total"] == len(expected) and p["limit"] == limit for p in pages)
        assert all(len(p["items"]) == limit and p["next_cursor"] for p in [first, *middle])
        assert 1 <= len(last["items"]) <= limit
        assert last["next_cursor"] is None
        walked = [i for p in pages for i in p["items"]]
        assert [i["name"] for i in walked] == expected, limit  # each once, in order
        assert walked == whole["items"]

    # a page of exactly the rest ends there: no empty page after it
    ends = _walk(c, len(expected))
    assert len(ends) == 1
    assert ends[0]["next_cursor"] is None
    # a cursor past every certificate row starts the missing ones
    past = encode_cursor(("c", "9999-01-01T00:00:00+00:00", "zzz"))
    tail = c.get(INVENTORY, params={"cursor": past}).json()
    assert [i["name"] for i in tail["items"]] == ["cas-aaa", "cas-bbb"]
    assert tail["total"] == len(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"limit": "ten"},
        {"cursor": ""},
        {"cursor": "not a cursor!"},
        {"cursor": "Zm9v"},  # base64 of "foo": not one the service gave
        {"cursor": base64.urlsafe_b64encode(b'["x","","cam"]').decode().rstrip("=")},
        {"cursor": encode_cursor(("c", "yesterday", "cam"))},
        {"cursor": encode_cursor(("c", "2026-01-01T00:00:00", "cam"))},  # no time zone
        {"cursor": encode_cursor(("c", "9999-12-31T23:59:59-14:00", "cam"))},  # past 9999
        {"cursor": encode_cursor(("m", "", ""))},
        {"cursor": "A" * 2000},
    ],
)
def test_a_bad_limit_or_cursor_is_a_422_problem(service: Service, params: dict[str, Any]) -> None:
    r = service.client("viewer").get(INVENTORY, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == 422
    assert body["error"]
    assert body["hint"]
    assert "Traceback" not in r.text


def test_paging_is_in_the_openapi_schema(service: Service) -> None:
    spec = service.client().get("/openapi.json").json()
    op = spec["paths"]["/api/v1/deployments/{deployment}/identities"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["limit"]["schema"]["default"] == DEFAULT_LIMIT
    assert params["limit"]["schema"]["maximum"] == MAX_LIMIT
    assert params["limit"]["schema"]["minimum"] == 1
    assert "cursor" in params
    assert not params["cursor"].get("required", False)
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page["required"]) >= {"items", "total", "limit", "next_cursor"}
    assert page["properties"]["items"]["items"]["$ref"].endswith("/IdentityOut")
    assert "422" in op["responses"]


def _status(c: httpx.Client) -> dict[str, Any]:
    r = c.get("/api/v1/status", params={"deployment": DEPLOYMENT})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


def _csrs(status: dict[str, Any]) -> set[str]:
    return {i["name"] for i in status["items"] if i["kind"] == "csr"}


def test_each_instance_keeps_its_status_until_a_write_lands(service: Service) -> None:
    """Two instances on one store, each with its own cache, at a fixed clock (the minute
    never turns): a write through one instance, then one through the store directly (the
    CLI's way), each shows at the next request of both."""
    other = create_app(config_for(service.home))
    with (
        running(other) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {service.tokens['viewer']}"}
        ) as b,
    ):
        a = service.client("viewer")
        before_a, before_b = _status(a), _status(b)
        assert before_a == before_b == _status(a)  # the second answer is the kept one
        assert _csrs(before_a) == set()

        made = service.client("operator").post(
            f"/api/v1/deployments/{DEPLOYMENT}/csrs", json={"identities": ["cas-clinic"]}
        )
        assert made.status_code == 200, made.text
        assert _csrs(_status(a)) == {"cas-clinic"}
        assert _csrs(_status(b)) == {"cas-clinic"}

        with ccapki.open_store(service.home, clock=lambda: NOW) as store:
            dep = ccapki.stored_deployment(store, DEPLOYMENT)
            ccapki.make_csrs(store, dep, ["cas-annex"])
        assert _csrs(_status(b)) == {"cas-clinic", "cas-annex"}
        assert _csrs(_status(a)) == {"cas-clinic", "cas-annex"}
        # the kept report is the one a fresh computation gives (its first page)
        with ccapki.open_store(service.home, clock=lambda: NOW) as store:
            report = ccapki.estate_status(store, deployments=[DEPLOYMENT])
        fresh = StatusPages(report).page(limit=DEFAULT_LIMIT).to_dict()
        assert _status(a) == json.loads(json.dumps(fresh))


def test_status_of_an_unknown_deployment_is_still_a_404(service: Service) -> None:
    r = service.client("viewer").get("/api/v1/status", params={"deployment": "nope"})
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == PROBLEM


def test_each_instance_keeps_its_trust_check_until_a_write_lands(service: Service) -> None:
    """The trust check kept by two instances: re-issuing an identity self-signed (through
    the store, the CLI's way) changes the matrix at both instances' next request, as a
    fresh check gives it."""
    check = f"/api/v1/deployments/{DEPLOYMENT}/trust/check"
    other = create_app(config_for(service.home))
    with (
        running(other) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {service.tokens['viewer']}"}
        ) as b,
    ):
        a = service.client("viewer")
        first = a.get(check).json()
        assert first["ok"] is True
        assert b.get(check).json() == first == a.get(check).json()

        text = FAQ.read_text().replace(
            'name = "cas-annex"\n', 'name = "cas-annex"\nsource = "self-signed"\n'
        )
        dep = ccapki.parse_deployment(text, "faq-annex.toml")
        with ccapki.open_store(service.home, clock=lambda: NOW) as store:
            ccapki.apply(store, dep, path="faq-annex.toml")
        broken_a, broken_b = a.get(check).json(), b.get(check).json()
        assert broken_a == broken_b
        assert broken_a != first
        with ccapki.open_store(service.home, clock=lambda: NOW) as store:
            fresh = ccapki.check_trust(store, ccapki.stored_deployment(store, DEPLOYMENT))
            assert broken_a["ok"] == fresh.clean
            assert broken_a["verifications"] == fresh.verifications
        assert len(broken_a["cells"]) == len(fresh.cells)
        assert a.get(check).json() == broken_a  # kept again, until the next write
