"""A running ``ccapki serve`` whose SQLite file is deleted or replaced under it (``rm``,
``mv new.db ccapki.db``, a restore by copy). It kept answering from, and writing to, the
old file through its open connections: users created with 201 were gone with the file.
Requests and jobs now look whether the file at the store's path is still the one opened
and touch nothing when it is not."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx
import pytest

from ccapki.service import problems
from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner
from ccapki.store.session import Store
from kit.certs import NOW
from kit.service import config_for, running, served_home

pytestmark = pytest.mark.sqlite_only  # the store's SQLite file


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    monkeypatch.setattr(problems, "SCHEMA_CHECK_EVERY", 0.0)  # every request looks
    home = tmp_path / "home"
    return home, served_home(home)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_requests_touch_nothing_once_the_database_file_is_gone(
    served: tuple[Path, dict[str, str]], tmp_path: Path, how: str
) -> None:
    home, tokens = served
    app = create_app(config_for(home))
    with running(app) as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['admin']}"})
        with api:
            assert api.get("/api/v1/users").status_code == 200
            db = home / "ccapki.db"
            if how == "deleted":
                db.unlink()
            else:  # another copy of the store put in its place
                shutil.copy(db, tmp_path / "copy.db")
                (tmp_path / "copy.db").replace(db)
            r = api.post("/api/v1/users", json={"name": "eve", "role": "viewer"})
            assert r.status_code == 503, r.text  # was 201, into the old file
            body = r.json()
            assert body["type"].endswith("store-replaced")
            assert "removed or replaced" in body["error"]
            assert "nothing was done" in body["error"]
            assert "restart `ccapki serve`" in body["hint"]
            assert api.get("/api/v1/users").status_code == 503


def test_the_job_runner_claims_nothing_once_the_file_is_replaced(
    served: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    home, _ = served
    caplog.set_level(logging.WARNING, logger="ccapki.service.jobs")
    with Store.open(home, clock=lambda: NOW) as store:
        runner = JobRunner(store, "i1")
        (home / "ccapki.db").unlink()
        assert runner.run_once() is False
        assert runner.run_once() is False
    said = [r.getMessage() for r in caplog.records if "removed or replaced" in r.getMessage()]
    assert len(said) == 1, said
