"""A running ``ccapki serve`` whose store another ccapki upgrades (``ccapki upgrade`` of a
newer release while the server runs). The upgrade walkthrough found the server still
answering every route and its job runner still renewing into the upgraded store (a renew
job wrote a certificate row without the new release's columns): a process checked the
schema only when it opened the store. Requests and jobs now look again (at most every
couple of seconds) and touch nothing while the schema is not this ccapki's."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from ccapki.service import problems
from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner
from ccapki.store.schema import SCHEMA_HEAD
from ccapki.store.session import Store
from kit.certs import NOW
from kit.pgmode import store_url
from kit.service import config_for, running, served_home

NEWER = "9999_from_a_newer_ccapki"


def _set_revision(home: Path, revision: str) -> None:
    engine = create_engine(store_url(home))
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        engine.dispose()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    monkeypatch.setattr(problems, "SCHEMA_CHECK_EVERY", 0.0)  # every request looks
    home = tmp_path / "home"
    return home, served_home(home)


def test_requests_touch_nothing_once_another_ccapki_upgraded_the_store(
    served: tuple[Path, dict[str, str]],
) -> None:
    path, tokens = served
    app = create_app(config_for(path))
    with running(app) as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['admin']}"})
        with api:
            assert api.get("/api/v1/users").status_code == 200
            _set_revision(path, NEWER)
            r = api.get("/api/v1/users")
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["type"].endswith("store-upgraded")
            assert NEWER in body["error"]
            assert SCHEMA_HEAD in body["error"]
            assert "nothing was done" in body["error"]
            assert "restart `ccapki serve`" in body["hint"]
            page = httpx.get(
                f"{url}/api/v1/users",
                headers={"Authorization": f"Bearer {tokens['admin']}", "accept": "text/html"},
            )
            assert page.status_code == 503
            _set_revision(path, SCHEMA_HEAD)  # back (a test only: no ccapki downgrades)
            assert api.get("/api/v1/users").status_code == 200


def test_the_job_runner_claims_nothing_and_says_so_once(
    served: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = served
    caplog.set_level(logging.WARNING, logger="ccapki.service.jobs")
    with Store.open(path, clock=lambda: NOW) as store:
        runner = JobRunner(store, "upgraded", poll=0.02)
        _set_revision(path, NEWER)
        assert runner.run_once() is False
        assert runner.run_once() is False
        said = [r.getMessage() for r in caplog.records if "job runner waits" in r.getMessage()]
        assert len(said) == 1, said
        assert NEWER in said[0]
        _set_revision(path, SCHEMA_HEAD)
        assert runner.run_once() is False  # nothing queued: it claims again
