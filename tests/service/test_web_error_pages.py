"""What a browser sees when the service refuses a form before a page can answer: the
dashboard's error words with a fix, never a JSON problem (walkthrough D: a login form left
open while another tab logged in, an upload sent with no file chosen and one over the
size limit each showed the browser raw `application/problem+json`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccapki.service.app import create_app
from kit.service import PASSWORDS, config_for, running

LIMIT = 64 * 1024  # --max-upload-body of this test's service


@pytest.fixture
def url(service_home: tuple[Path, dict[str, str]]) -> Iterator[str]:
    home, _ = service_home
    with running(create_app(config_for(home, max_upload_body=LIMIT))) as base:
        yield base


def browser(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"accept": "text/html"}, timeout=60)


def words(html: str) -> str:
    """The text of a page's main part, its tags dropped and spaces joined."""
    main = re.search(r"<main.*?</main>", html, re.S)
    text = re.sub(r"<[^>]+>", " ", main.group(0) if main else html)
    return re.sub(r"\s+", " ", text).replace("&#39;", "'").strip()


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def log_in(c: httpx.Client, name: str = "operator") -> str:
    """Log ``c`` in through the login form; the session's CSRF token."""
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"name": name, "password": PASSWORDS[name], "csrf_token": form_token(page.text)},
    )
    assert r.status_code == 303, r.text
    return form_token(c.get("/certificates").text)


def test_a_stale_login_form_asks_to_log_in_again(url: str) -> None:
    with browser(url) as first, browser(url) as second:
        old = form_token(first.get("/login?next=/audit").text)
        first.cookies.delete("ccapki_login_csrf")  # expired, or cleared by another tab
        r = first.post(
            "/login",
            data={
                "name": "operator",
                "password": PASSWORDS["operator"],
                "csrf_token": old,
                "next": "/audit",
            },
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/login?error=csrf&next=%2Faudit"
        page = first.get(r.headers["location"])
        assert page.status_code == 200
        assert "error: the login form had expired" in words(page.text)
        assert "hint: type your name and password again" in words(page.text)
        # this new form works
        r = first.post(
            "/login",
            data={
                "name": "operator",
                "password": PASSWORDS["operator"],
                "csrf_token": form_token(page.text),
                "next": "/audit",
            },
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/audit"
        # logged in meanwhile (another tab): the stale form's answer goes on to the page
        log_in(second)
        r = second.get("/login?error=csrf&next=/audit")
        assert r.status_code == 303
        assert r.headers["location"] == "/audit"
    with httpx.Client(base_url=url) as script:  # a script still hears the problem
        r = script.post("/login", data={"name": "x", "password": "y", "csrf_token": "z"})
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"


def test_an_upload_with_no_file_chosen_says_so_on_a_page(url: str) -> None:
    with browser(url) as c:
        csrf = log_in(c)
        # what a browser sends when Upload is pressed with no file chosen
        r = c.post(
            "/upload",
            data={"csrf_token": csrf, "password": ""},
            files=[("files", ("", b"", "application/octet-stream"))],
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("text/html")
        text = words(r.text)
        assert "error: no file uploaded" in text, text
        assert "hint: choose the certificate file" in text, text
        assert "UploadFile" not in text


def test_an_upload_over_the_limit_says_so_on_a_page(url: str) -> None:
    with browser(url) as c:
        csrf = log_in(c)
        r = c.post(
            "/upload",
            data={"csrf_token": csrf},
            files=[("files", ("big.pem", b"A" * (LIMIT + 1)))],
        )
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("text/html")
        text = words(r.text)
        assert f"error: the request body is larger than {LIMIT} bytes (uploads)" in text
        assert "hint: send less: the limits are the service's --max-body" in text


def test_unknown_pages_are_pages_and_the_api_stays_json(url: str) -> None:
    with browser(url) as c:
        r = c.get("/no-such-page")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "error: no route /no-such-page" in words(r.text)
        r = c.get("/api/v1/no-such-route")  # the API answers problems, whatever is accepted
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
