"""Walkthrough V: what a browser sees when a dashboard form is sent wrong or too late.

Before: a form whose session had expired (or was logged out in another tab) went to a
bare login form that said nothing, the form silently not carried out; a form or address
with a bad value (an empty or missing field, a flag that is no boolean, a deployment name
over the limit) said ``invalid request: body.identity: Field required`` with the API's
hint ("see /openapi.json for what this route takes"), not what to do in the browser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccapki.service.app import create_app
from kit.certs import NOW
from kit.service import config_for, running

from .test_web_error_pages import browser, form_token, log_in, words


class Clock:
    """The service's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def served(service_home: tuple[Path, dict[str, str]]) -> Iterator[tuple[str, Clock]]:
    home, _ = service_home
    clock = Clock()
    with running(create_app(config_for(home, clock=clock))) as base:
        yield base, clock


def test_a_form_sent_after_the_session_ended_says_so(served: tuple[str, Clock]) -> None:
    url, clock = served
    with browser(url) as c:
        token = log_in(c)
        clock.now = NOW + dt.timedelta(hours=9)  # past the 8-hour session
        r = c.post("/csr", data={"identity": "cam", "csrf_token": token})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/login?next=%2F&error=ended-form"
        page = words(c.get(r.headers["location"]).text)
        assert (
            "error: your session has ended (it expired, or you logged out): the form you "
            "sent was not carried out" in page
        ), page
        assert "hint: log in again, then send the form again" in page, page
        # a page asked for then: the same, without the form
        r = c.get("/inventory")
        assert r.headers["location"] == "/login?next=%2Finventory&error=ended"
        page = words(c.get(r.headers["location"]).text)
        assert "error: your session has ended (it expired, or you logged out)" in page, page
        assert "not carried out" not in page
    with browser(url) as fresh:  # never logged in: the plain login form, no error
        r = fresh.get("/inventory")
        assert r.headers["location"] == "/login?next=%2Finventory"
        assert "error:" not in words(fresh.get(r.headers["location"]).text)


@pytest.mark.parametrize(
    ("path", "data", "said"),
    [
        ("/csr", {}, "the form's field `identity`: missing or empty"),
        ("/csr", {"identity": "x" * 300}, "the form's field `identity`: String should have at"),
        ("/trust/apply", {"prune": "maybe"}, "the form's field `prune`: Input should be a valid"),
        ("/trust/apply?deployment=" + "d" * 300, {}, "the address's `deployment`: String"),
    ],
)
def test_a_bad_form_value_says_what_to_correct_in_the_browser(
    served: tuple[str, Clock], path: str, data: dict[str, str], said: str
) -> None:
    url, _ = served
    with browser(url) as c:
        token = log_in(c)
        r = c.post(path, data={**data, "csrf_token": token})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("text/html"), r.headers
        page = words(r.text)
        assert f"error: the form or address was not valid: {said}" in page, page
        assert "hint: go back, correct what is named" in page, page
        assert "openapi" not in page
    # a script still gets the API's words
    with httpx.Client(base_url=url, timeout=60) as script:
        login = script.get("/login/csrf").json()["csrf_token"]
        r = script.post("/login", data={"name": "", "csrf_token": login})
        assert r.status_code == 422
        assert r.json()["hint"].startswith("see /openapi.json"), r.text


def test_an_empty_login_form_says_what_to_fill_in(served: tuple[str, Clock]) -> None:
    url, _ = served
    with browser(url) as c:
        token = form_token(c.get("/login").text)
        r = c.post("/login", data={"name": "", "password": "", "csrf_token": token})
        assert r.status_code == 422, r.text
        page = words(r.text)
        assert "the form's field `name`: missing or empty" in page, page
        assert "the form's field `password`: missing or empty" in page, page
