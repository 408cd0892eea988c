"""Issue 13: ``GET /api/v1/status`` one page at a time (limit + cursor) and filtered by
stage (``?stage=expired,critical``), every page with the whole report's counts and totals
per stage; bad values as 422 problems; all of it in the OpenAPI schema. A served app over a
real store: the FAQ deployment plus two planned identities without certificates, a pending
CSR, the CAM renewed later, seen 400 days on (the other identities expired)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ccapki
from ccapki.lifecycle.inventory import DEFAULT_LIMIT, MAX_LIMIT
from ccapki.lifecycle.status_pages import CLASSES, StatusPages
from ccapki.service.app import create_app
from kit.certs import NOW
from kit.cli import FAQ
from kit.service import EXTRA_THIRD_PARTY, config_for, running

STATUS = "/api/v1/status"
PROBLEM = "application/problem+json"
DAY = dt.timedelta(days=1)
LATER = NOW + 400 * DAY  # the FAQ's identities (397 days) expired; the renewed CAM not


@pytest.fixture
def viewer(service_home: tuple[Path, dict[str, str]]) -> Iterator[httpx.Client]:
    """A viewer's client of an app seeing the store at :data:`LATER`."""
    home, tokens = service_home
    dep = ccapki.parse_deployment(FAQ.read_text() + EXTRA_THIRD_PARTY, "faq-extra.toml")
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, path="faq-extra.toml")
        ccapki.make_csrs(store, dep, ["cas-clinic"])
    with ccapki.open_store(home, clock=lambda: NOW + 200 * DAY) as store:
        plan = ccapki.plan_renewal(store, dep, names=["cam"], due=False)
        assert [i.identity for i in plan.items] == ["cam"]
        ccapki.commit_renewal(store, dep, plan)
    app = create_app(config_for(home, clock=lambda: LATER))
    with (
        running(app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['viewer']}"}, timeout=60
        ) as c,
    ):
        yield c


def _get(c: httpx.Client, **params: Any) -> dict[str, Any]:
    r = c.get(STATUS, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


def _walk(c: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    pages = [_get(c, **params)]
    while pages[-1]["next_cursor"] is not None:
        pages.append(_get(c, **params, cursor=pages[-1]["next_cursor"]))
    return pages


def _fresh(home: Path) -> StatusPages:
    with ccapki.open_store(home, clock=lambda: LATER) as store:
        return StatusPages(ccapki.estate_status(store))


def test_pages_cover_the_whole_report_once_with_its_totals_on_each(
    viewer: httpx.Client, service_home: tuple[Path, dict[str, str]]
) -> None:
    fresh = _fresh(service_home[0])
    whole = fresh.page(limit=DEFAULT_LIMIT)
    assert whole.next_cursor is None
    expected = json.loads(json.dumps(whole.to_dict()))
    first = _get(viewer)
    assert first["limit"] == DEFAULT_LIMIT
    assert first == expected  # the few items of the FAQ fit the default page
    assert first["now"] == LATER.isoformat()
    assert first["counts"]["expired"] == 5
    assert first["stages"]["missing"] == 2
    assert first["stages"]["pending"] == 1
    assert first["exit_code"] == 1
    assert first["nagios_code"] == 2
    for limit in (1, 4, 7):
        pages = _walk(viewer, limit=limit)
        assert len(pages) == -(-whole.total // limit), limit
        walked = [i for p in pages for i in p["items"]]
        assert walked == expected["items"], limit
        for p in pages:  # the whole report's figures, on every page
            assert {k: p[k] for k in ("counts", "stages", "summary", "total", "now")} == {
                k: expected[k] for k in ("counts", "stages", "summary", "total", "now")
            }
            assert p["limit"] == limit
    # the order: expiry first (the CSR beside its identity), the missing ones last
    names = [(i["kind"], i["name"]) for i in expected["items"]]
    assert names.index(("csr", "cas-clinic")) == names.index(("identity", "cas-clinic")) + 1
    assert names[-2:] == [("identity", "cas-aaa"), ("identity", "cas-bbb")]


def test_the_stage_filter_keeps_any_class_named(viewer: httpx.Client) -> None:
    pages = _walk(viewer, stage="expired,critical", limit=2)
    kept = [i for p in pages for i in p["items"]]
    assert {(i["kind"], i["name"], i["stage"]) for i in kept} == {
        ("identity", n, "expired")
        for n in ("cas-annex", "cas-clinic", "cas-dorm", "cas-guest", "cas-library")
    }
    assert all(p["total"] == 5 for p in pages)
    assert pages[0]["stages"]["ok"] > 0  # the totals stay the whole report's
    assert len(pages) == 3
    pending = _get(viewer, stage="pending")
    assert [(i["kind"], i["name"]) for i in pending["items"]] == [("csr", "cas-clinic")]
    missing = _get(viewer, stage="MISSING, pending")  # any case, spaces after commas
    assert [i["name"] for i in missing["items"]] == ["cas-clinic", "cas-aaa", "cas-bbb"]
    ok = _get(viewer, stage="ok", deployment="faq-campus")
    assert {i["name"] for i in ok["items"] if i["kind"] == "identity"} == {"cam"}
    assert _get(viewer, stage="7")["items"] == []  # a warn stage nothing is in
    assert set(ok["stages"]) == {*CLASSES, "60", "30", "7"}


#: Each a 422 problem (an unknown deployment: 404), with an error and a hint.
BAD = [
    {"stage": "soon"},
    {"stage": "45"},  # not one of the deployment's warn stages
    {"stage": "expired;drop"},
    {"stage": "x" * 300},
    {"limit": 0},
    {"limit": MAX_LIMIT + 1},
    {"cursor": "Zm9v"},
    {"cursor": "not a cursor!"},
    {"cursor": "A" * 3000},
    {"deployment": "nope"},
]


def test_a_bad_stage_limit_or_cursor_is_a_problem(viewer: httpx.Client) -> None:
    for params in BAD:
        r = viewer.get(STATUS, params=params)
        assert r.status_code == (404 if "deployment" in params else 422), (params, r.text)
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["error"], params
        assert body["hint"], params
        assert "Traceback" not in r.text


def test_status_paging_is_in_the_openapi_schema(viewer: httpx.Client) -> None:
    spec = viewer.get("/openapi.json").json()
    op = spec["paths"][STATUS]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["limit"]["schema"]["default"] == DEFAULT_LIMIT
    assert params["limit"]["schema"]["maximum"] == MAX_LIMIT
    assert {"cursor", "stage", "deployment"} <= set(params)
    assert all(not params[n].get("required", False) for n in ("cursor", "stage"))
    assert "expired" in op["description"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page["required"]) >= {"items", "total", "limit", "next_cursor", "stages", "counts"}
    assert page["properties"]["items"]["items"]["$ref"].endswith("/StatusItemOut")
    assert "422" in op["responses"]
