"""The service on a SQLite store whose write lock another process holds: a write outside a
transaction (queuing a job, a job runner's claim or heartbeat) waits out SQLite's busy
timeout and meets "database is locked". That was answered as an unreachable database
("the database did not answer (database is locked)", hint "check CCAPKI_DATABASE_URL and
that the database server is running") and logged as one; it is a busy store, answered as
a :class:`StoreBusy` is (503, Retry-After, the service's busy hint) and logged as busy.

The other writer is a real process holding ``BEGIN IMMEDIATE`` on the store's ccapki.db."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccapki.home import DB_NAME
from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner, _Context
from ccapki.store.session import BUSY_HINTS, Store
from kit.certs import NOW
from kit.service import DEPLOYMENT, add_users, config_for, make_store, running

pytestmark = pytest.mark.sqlite_only  # SQLite's own lock on its database file

#: Holds the write lock of the SQLite file argv[1] until its stdin closes.
_HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
con.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _write_lock_held(home: Path) -> Iterator[None]:
    """Another process holds the write lock of ``home``'s ccapki.db for the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(home / DB_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        code = holder.wait(timeout=60)
        holder.stdout.close()
    assert code == 0


@pytest.fixture
def busy_home(home: Path) -> tuple[Path, dict[str, str]]:
    make_store(home)
    with Store.open(home, clock=lambda: NOW) as store:
        return home, add_users(store)


def _unreachable_words(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if "did not answer" in r.getMessage()
        or "database server" in r.getMessage()
        or "waits for the database" in r.getMessage()
    ]


def test_a_locked_write_is_answered_as_a_busy_store(
    busy_home: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    home, tokens = busy_home
    caplog.set_level(logging.WARNING, logger="ccapki.service")
    # wait: how long a write under the store's own write lock waits (then StoreBusy)
    app = create_app(config_for(home, wait=0.3))
    auth = {"Authorization": f"Bearer {tokens['operator']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        with _write_lock_held(home):
            # queuing a job writes outside a transaction: SQLite's "database is locked"
            r = http.post(f"/api/v1/deployments/{DEPLOYMENT}/probe", json={}, headers=auth)
            # a write under the write lock: the StoreBusy the service already answered
            busy = http.post("/api/v1/users/viewer/tokens", json={"label": "x"}, headers=admin)
            page = http.post(
                f"/api/v1/deployments/{DEPLOYMENT}/probe",
                json={},
                headers={**auth, "accept": "text/html"},
            )
        assert busy.status_code == 503, busy.text
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == busy.headers["retry-after"] == "5"
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"] == busy.json()["type"], body
        assert body["type"].endswith("/store-busy")
        assert body["hint"] == busy.json()["hint"] == BUSY_HINTS["service"]
        assert body["error"].startswith("the store is busy: another writer holds its write")
        assert "database is locked" in body["error"]
        assert "did not answer" not in body["error"]
        assert "database server" not in body["hint"]
        assert page.status_code == 503  # /api/ answers a problem whatever it accepts
        # the lock let go: the same request is queued
        ok = http.post(f"/api/v1/deployments/{DEPLOYMENT}/probe", json={}, headers=auth)
        assert ok.status_code == 202, ok.text
    said = [r.getMessage() for r in caplog.records if r.name == "ccapki.service"]
    assert any("the store is busy" in m for m in said), said
    assert _unreachable_words(caplog.records) == []
    assert all(r.exc_info is None for r in caplog.records)


def test_the_job_runner_logs_a_locked_store_as_busy(
    busy_home: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    home, _ = busy_home
    caplog.set_level(logging.WARNING, logger="ccapki.service.jobs")
    with Store.open(home, clock=lambda: NOW) as store:
        store.jobs.enqueue("probe", {"target": "auto"}, deployment=DEPLOYMENT)
        runner = JobRunner(store, "busy", poll=0.02)
        with _write_lock_held(home):
            runner.start()  # its claim waits out SQLite's busy timeout, then is refused
            try:
                deadline = time.monotonic() + 60  # ends a wait that would hang; not asserted
                while time.monotonic() < deadline and not any(
                    "waits for the store" in r.getMessage() for r in caplog.records
                ):
                    time.sleep(0.05)
            finally:
                runner.stop()
        claims = [r.getMessage() for r in caplog.records]
        assert any(
            m.startswith("the job runner waits for the store: the store is busy") for m in claims
        ), claims
        # a heartbeat of a job this instance runs, refused the same way
        job = store.jobs.claim("busy", runner.lease)
        assert job is not None
        caplog.clear()
        with _write_lock_held(home):
            runner._beat(_Context(job))
        beats = [r.getMessage() for r in caplog.records]
        assert beats == [
            f"job {job.id}: the lease could not be renewed: the store is busy: another "
            "writer holds its write lock (SQLite: database is locked); nothing was changed"
        ], beats
    assert _unreachable_words(caplog.records) == []
    assert all(r.exc_info is None for r in caplog.records)
