"""A throttled login says the wait its ``Retry-After`` gives, on the login page as in the
API's 429 (walkthrough: a name tried from many addresses waits 30 s, ``Retry-After: 30``,
but the login page said "wait 15 minutes")."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import httpx

from ccapki.service.app import create_app
from kit.jobs import Clock
from kit.service import PASSWORDS, config_for, running


def _hint(wait: str) -> str:
    return f"wait {wait}, or ask an admin to check the audit log"


def _post_login(
    c: httpx.Client, name: str, password: str, address: str, *, page: bool = False
) -> httpx.Response:
    """``POST /login`` from ``address`` (behind the trusted proxy): as a script, or as the
    login page's form (``page``: a browser, answered with a redirect)."""
    token = c.get("/login/csrf").json()["csrf_token"]
    headers = {"X-Forwarded-For": address}
    if page:
        headers["Accept"] = "text/html"
    form = {"name": name, "password": password, "csrf_token": token}
    return c.post("/login", data=form, headers=headers)


def _hint_on_the_page(c: httpx.Client, r: httpx.Response) -> str:
    """The hint the login page shows after the redirect ``r``."""
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"], headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "too many failed logins" in text
    (line,) = [x for x in text.splitlines() if 'class="hint"' in x]
    return line.split("hint: ", 1)[1].split("</p>")[0]


def test_the_login_page_and_the_api_say_the_wait_retry_after_gives(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home
    clock = Clock()
    app = create_app(config_for(home, clock=clock, trusted_proxy="127.0.0.1"))
    with running(app) as url, httpx.Client(base_url=url) as c:
        for n in range(10):  # the admin's name tried from ten addresses: slowed, 30 s
            assert _post_login(c, "admin", "nope-nope", f"203.0.113.{n + 1}").status_code == 401
        for elapsed in (0, 12):
            clock.now = clock.now + dt.timedelta(seconds=elapsed)
            wait = 30 - elapsed
            r = _post_login(c, "admin", PASSWORDS["admin"], "198.51.100.7")
            assert r.status_code == 429, r.text
            assert r.headers["retry-after"] == str(wait)
            assert r.json()["hint"] == _hint(f"{wait} seconds")
            r = _post_login(c, "admin", PASSWORDS["admin"], "198.51.100.7", page=True)
            assert r.headers["retry-after"] == str(wait)
            assert _hint_on_the_page(c, r) == _hint(f"{wait} seconds")  # not "15 minutes"
        clock.now += dt.timedelta(seconds=19)
        assert _post_login(c, "admin", PASSWORDS["admin"], "198.51.100.7").status_code == 200

        # a name locked from one address (5 failures): the whole window, said alike
        for _ in range(5):
            assert _post_login(c, "operator", "nope-nope", "192.0.2.1").status_code == 401
        r = _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1")
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "900"
        assert r.json()["hint"] == _hint("15 minutes")
        r = _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1", page=True)
        assert r.headers["retry-after"] == "900"
        assert _hint_on_the_page(c, r) == _hint("15 minutes")
