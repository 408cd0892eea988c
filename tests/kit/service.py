"""The service kit: a store with the FAQ deployment applied at the fixed clock, users of
each role with API tokens, the app served by a real uvicorn on 127.0.0.1 in a thread, and
httpx clients for it.

    with running(create_app(config)) as url:
        httpx.get(f"{url}/api/v1/health")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

import ccapki
from ccapki.service.auth import hash_password, issue_token
from ccapki.service.config import ServiceConfig
from ccapki.store.records import Role
from ccapki.store.session import Store
from kit.certs import NOW
from kit.cli import FAQ

__all__ = [
    "DEPLOYMENT",
    "EXTRA_THIRD_PARTY",
    "PASSWORDS",
    "ROLES",
    "Service",
    "add_users",
    "config_for",
    "login",
    "make_store",
    "running",
    "served_home",
]

#: Two third-party CAS added to the FAQ: planned, no certificate until imported (paging
#: tests: identities "missing" beside the issued ones, named out of order).
EXTRA_THIRD_PARTY = """
[[cas]]
name = "cas-bbb"
hostname = "cas-bbb.example.edu"
ip = "10.40.0.11"
source = "third-party"

[[cas]]
name = "cas-aaa"
hostname = "cas-aaa.example.edu"
ip = "10.40.0.10"
source = "third-party"
"""

#: The FAQ deployment's name (examples/faq.toml).
DEPLOYMENT = "faq-campus"
ROLES = ("viewer", "operator", "admin")
#: Each role's user is named after it and has this password.
PASSWORDS = {r: f"{r}-password-123" for r in ROLES}


def make_store(home: Path, clock: Callable[[], dt.datetime] = lambda: NOW) -> None:
    """A key-file store at ``home`` with the FAQ deployment applied at ``clock``."""
    with ccapki.init_store(home, key_file=True, clock=clock) as store:
        ccapki.apply(store, ccapki.load_deployment(FAQ), path=str(FAQ))


def add_users(store: Store) -> dict[str, str]:
    """A user per role (named after it, password :data:`PASSWORDS`) with an API token:
    role -> token."""
    tokens = {}
    for role in ROLES:
        user = store.users.add(role, Role(role), hash_password(PASSWORDS[role]))
        tokens[role], _ = issue_token(store, user, f"{role} test token")
    return tokens


def served_home(home: Path) -> dict[str, str]:
    """A new key-file store at ``home`` holding the test users (:func:`add_users`), for
    a server whose every request looks at the store again (``SCHEMA_CHECK_EVERY`` set to
    0 by the caller): returns the users' tokens."""
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        return add_users(store)


def config_for(home: Path, **kw: object) -> ServiceConfig:
    """A plain-HTTP config over ``home`` at the fixed clock, no job runner (``kw``
    overrides)."""
    values: dict[str, object] = {
        "tls": False,
        "jobs_enabled": False,
        "clock": lambda: NOW,
        "instance_id": "test",
    }
    values.update(kw)
    return ServiceConfig(home, **values)  # type: ignore[arg-type]


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``host`` (a free port) in a thread, its lifespan
    included: the base URL (``http://127.0.0.1:PORT``). Stopped at the end."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # ends a wait that would hang; never an assertion
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@dataclass
class Service:
    """An app over a store (FAQ applied, users of each role), served on 127.0.0.1."""

    app: FastAPI
    url: str
    tokens: dict[str, str]
    home: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def store(self) -> Store:
        store: Store = self.app.state.store
        return store

    def client(self, role: str | None = None, **kw: object) -> httpx.Client:
        """An httpx client for the service; with ``role``, sending that user's token."""
        headers = dict(kw.pop("headers", None) or {})  # type: ignore[call-overload]
        if role:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        c = httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    """Log ``client`` in as a browser script would: fetch the login CSRF token (its
    cookie), post the form. The response of ``POST /login``."""
    token = client.get("/login/csrf").json()["csrf_token"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})
