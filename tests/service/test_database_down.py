"""The service while its PostgreSQL goes away (walkthrough D: a server whose database
stopped answering mid-session answered every request `500 internal error
(OperationalError) ... this is a ccapki bug` and logged a traceback per request; its job
runner logged a traceback with the SQL on every poll, hundreds of lines a second).

The database is reached through a TCP relay on 127.0.0.1 that the test starts and stops:
the real PostgreSQL keeps running for everyone else."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import ccapki
from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner
from ccapki.store.session import Store
from kit.certs import NOW
from kit.service import PASSWORDS, add_users, config_for, login, running
from kit.tools import require_pg_url


class Relay:
    """A TCP relay from a port of 127.0.0.1 to the PostgreSQL server; :meth:`stop` closes
    it and every connection through it (the database "stops"), :meth:`start` opens it
    again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._socks: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept (close alone does not)
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def relayed(tmp_path: Path) -> Iterator[tuple[Path, str, Relay, dict[str, str]]]:
    """A store in a schema of its own on the test PostgreSQL, reached through a
    :class:`Relay`: (home, its database URL through the relay, the relay, role ->
    token)."""
    base = require_pg_url()
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    through = url.set(
        host="127.0.0.1", port=relay.port, query={"options": f"-csearch_path={schema}"}
    )
    db_url = through.render_as_string(hide_password=False)
    home = tmp_path / "home"
    try:
        with ccapki.init_store(home, key_file=True, url=db_url, clock=lambda: NOW) as store:
            tokens = add_users(store)
        yield home, db_url, relay, tokens
    finally:
        relay.stop()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def _no_traceback(records: list[logging.LogRecord]) -> None:
    for r in records:
        assert r.exc_info is None, r.getMessage()
        assert "Traceback" not in r.getMessage()


def test_requests_while_the_database_is_away_are_503_in_words(
    relayed: tuple[Path, str, Relay, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    home, db_url, relay, tokens = relayed
    app = create_app(config_for(home, database_url=db_url))
    with running(app) as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['admin']}"})
        web = httpx.Client(base_url=url, headers={"accept": "text/html"})
        with api, web:
            assert api.get("/api/v1/me").status_code == 200
            assert login(web, "operator", PASSWORDS["operator"]).status_code == 303
            assert web.get("/audit").status_code == 200
            relay.stop()  # the database stops answering
            caplog.clear()
            for method, path in (
                ("GET", "/api/v1/me"),  # the token is checked before the route
                ("GET", "/api/v1/audit"),
                ("POST", "/api/v1/users/viewer/tokens"),
            ):
                r = api.request(method, path, json={"label": "x"} if method == "POST" else None)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["retry-after"] == "5"
                body = r.json()
                assert body["error"].startswith("the database did not answer ("), body
                assert "bug" not in body["error"] + body["hint"]
                assert "check CCAPKI_DATABASE_URL" in body["hint"], body
                assert "then send the request again" in body["hint"]
                assert PASSWORDS["admin"] not in r.text
                assert ":ccapki@" not in r.text  # the URL's password
            page = web.get("/audit")  # a browser: the same words as a page
            assert page.status_code == 503
            assert page.headers["content-type"].startswith("text/html")
            words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
            assert "error: the database did not answer" in words, words
            assert "hint: check CCAPKI_DATABASE_URL" in words
            _no_traceback(caplog.records)
            relay.start()  # back: the next requests are answered again
            assert api.get("/api/v1/me").status_code == 200
            assert web.get("/audit").status_code == 200


def test_the_job_runner_says_once_that_the_database_is_away(
    relayed: tuple[Path, str, Relay, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    home, db_url, relay, _ = relayed
    caplog.set_level(logging.WARNING, logger="ccapki.service.jobs")
    with Store.open(home, url=db_url, clock=lambda: NOW) as store:
        runner = JobRunner(store, "walkd", poll=0.02)
        runner.start()
        try:
            relay.stop()
            deadline = time.monotonic() + 30  # ends a wait that would hang; not asserted
            said = [r for r in caplog.records if "waits for the database" in r.getMessage()]
            while not said and time.monotonic() < deadline:
                time.sleep(0.02)
                said = [r for r in caplog.records if "waits for the database" in r.getMessage()]
            time.sleep(0.5)  # many more polls while it is away
            relay.start()
            while time.monotonic() < deadline and not any(
                "reaches the database again" in r.getMessage() for r in caplog.records
            ):
                time.sleep(0.02)
        finally:
            runner.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "ccapki.service.jobs"]
    _no_traceback(caplog.records)
    away = [m for m in messages if "waits for the database" in m]
    assert len(away) == 1, messages
    assert away[0].startswith("the job runner waits for the database: the database did not")
    assert messages.count("the job runner reaches the database again") == 1, messages
