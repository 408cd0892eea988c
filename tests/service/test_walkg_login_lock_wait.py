"""A login lock's ``Retry-After`` is the real wait (walkthrough G: after 5 failures it was
always the whole window, 15 minutes, even when the oldest failure aged out sooner and a
login worked again well before). The lock ends when the failure whose ageing out brings
the count under the limit leaves the window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from ccapki.service.app import create_app
from ccapki.store import Store
from kit.jobs import Clock
from kit.service import PASSWORDS, config_for, running

WINDOW = dt.timedelta(minutes=15)  # ServiceConfig.login_window's default


def _post_login(c: httpx.Client, name: str, password: str, address: str) -> httpx.Response:
    token = c.get("/login/csrf").json()["csrf_token"]
    form = {"name": name, "password": password, "csrf_token": token}
    return c.post("/login", data=form, headers={"X-Forwarded-For": address})


def test_retry_after_is_when_the_oldest_failure_ages_out(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home
    clock = Clock()
    app = create_app(config_for(home, clock=clock, trusted_proxy="127.0.0.1"))
    step = dt.timedelta(minutes=1)
    with running(app) as url, httpx.Client(base_url=url) as c:
        # one name from one address: 5 failures a minute apart lock the pair
        for n in range(5):
            if n:
                clock.now += step
            assert _post_login(c, "operator", "nope-nope", "192.0.2.1").status_code == 401
        r = _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1")
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == str(15 * 60 - 4 * 60)  # not 900
        assert r.json()["hint"].startswith("wait 11 minutes,"), r.json()
        clock.now += dt.timedelta(seconds=30)
        r = _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1")
        assert r.headers["retry-after"] == str(11 * 60 - 30)
        clock.now += dt.timedelta(seconds=11 * 60 - 30 - 1)  # one second before
        assert _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1").status_code == 429
        clock.now += dt.timedelta(seconds=1)  # the oldest failure ages out: 4 are left
        assert _post_login(c, "operator", PASSWORDS["operator"], "192.0.2.1").status_code == 200

        # one address, any names: 20 failures 10 s apart lock the address
        for n in range(20):
            clock.now += dt.timedelta(seconds=10)
            assert _post_login(c, f"nobody{n}", "nope-nope", "192.0.2.9").status_code == 401
        r = _post_login(c, "viewer", PASSWORDS["viewer"], "192.0.2.9")
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == str(15 * 60 - 19 * 10)


def test_the_failure_that_ends_a_lock_is_read_past_the_older_ones(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home
    clock = Clock()
    with Store.open(home, clock=clock) as store:
        start = clock.now
        for n in range(7):  # more than the limit of 5
            clock.now = start + n * dt.timedelta(minutes=1)
            store.logins.failed("someone", "192.0.2.5")
        store.logins.failed("another", "192.0.2.6")
        # with 7 failures and a limit of 5, the third oldest's ageing out ends the lock
        found = store.logins.oldest(WINDOW, name="someone", address="192.0.2.5", skip=7 - 5)
        assert found == start + 2 * dt.timedelta(minutes=1)
        assert store.logins.oldest(WINDOW, address="192.0.2.5") == start
        assert store.logins.oldest(WINDOW, name="someone", skip=7) is None
        clock.now = start + WINDOW  # the first has aged out (the window is open-ended)
        assert store.logins.oldest(WINDOW, name="someone") == start + dt.timedelta(minutes=1)
