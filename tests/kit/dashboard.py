"""The dashboard's test kit: an estate in a real store, the service app over it served by a
real uvicorn on 127.0.0.1, and a logged-in browser-like httpx client.

:func:`make_estate` applies the FAQ deployment with one CAS (``cas-clinic``) from an outside
CA (so it has no certificate until its CSR is answered and uploaded) and one trust store
(``cas-annex``'s) emptied on purpose: its CAM<->CAS links fail until the trust plan is
applied. Users: one per role, password ``<name>-password``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

import ccapki
from ccapki.pki.certs import fingerprint
from ccapki.service.app import create_app
from ccapki.service.auth import hash_password
from ccapki.service.config import ServiceConfig
from ccapki.store.records import Role
from ccapki.topology.model import Deployment
from kit.certs import NOW
from kit.cli import FAQ
from kit.tools import free_port

__all__ = [
    "BROKEN",
    "THIRD_PARTY",
    "USERS",
    "Estate",
    "WebClient",
    "csrf_of",
    "faq_text",
    "make_app",
    "make_estate",
    "serve",
]

#: the CAS whose certificate comes from an outside CA (a CSR, then an upload)
THIRD_PARTY = "cas-clinic"
#: the appliance whose trust store the estate empties on purpose
BROKEN = "cas-annex"
#: user name -> role (password: ``<name>-password``)
USERS = {"vera": Role.VIEWER, "otto": Role.OPERATOR, "ada": Role.ADMIN}


def password(name: str) -> str:
    return f"{name}-password"


def faq_text() -> str:
    """The FAQ deployment with ``cas-clinic`` from an outside CA."""
    text = FAQ.read_text()
    marker = f'name = "{THIRD_PARTY}"\n'
    assert marker in text
    return text.replace(marker, marker + 'source = "third-party"\n')


@dataclass(frozen=True)
class Estate:
    home: Path
    deployment: Deployment

    def clock(self) -> dt.datetime:
        return NOW

    def open(self) -> ccapki.Store:
        return ccapki.open_store(self.home, clock=self.clock)


def make_estate(home: Path, *, broken: str | None = BROKEN) -> Estate:
    """A key-file store at ``home`` holding the deployment applied at ``NOW``, the users of
    :data:`USERS`, and ``broken``'s trust store emptied (None: left whole)."""
    dep = ccapki.parse_deployment(faq_text(), "faq-third-party.toml")
    estate = Estate(home, dep)
    with ccapki.init_store(home, key_file=True, clock=estate.clock):
        pass
    with estate.open() as store:
        ccapki.apply(store, dep, path="faq-third-party.toml")
        for name, role in USERS.items():
            store.users.add(name, role, hash_password(password(name)))
        if broken is not None:
            with store.scoped(dep.name), store.transaction():
                for cert in store.trust.all().get(broken, ()):
                    store.trust.remove(broken, fingerprint(cert))
    return estate


def make_app(estate: Estate, *, jobs: bool = False) -> FastAPI:
    """The service app over ``estate`` (plain HTTP, the fixed clock, no job runner unless
    ``jobs``)."""
    config = ServiceConfig(home=estate.home, tls=False, jobs_enabled=jobs, clock=estate.clock)
    return create_app(config)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


class WebClient:
    """A browser-like client (httpx: it keeps cookies, sends ``Accept: text/html``, does
    not follow redirects) of the service at ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, follow_redirects=False, headers={"accept": "text/html"}
        )
        self.csrf = ""

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def login(self, name: str) -> WebClient:
        """Log in as ``name`` through the login form; keeps the session's CSRF token."""
        page = self.http.get("/login")
        assert page.status_code == 200, page.text
        r = self.http.post(
            "/login",
            data={"name": name, "password": password(name), "csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/"
        home = self.http.get("/")
        assert home.status_code == 200, home.text
        self.csrf = csrf_of(home.text)
        return self


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` served by a real uvicorn on 127.0.0.1 in a thread; yields its base URL and
    stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.02)
        else:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
