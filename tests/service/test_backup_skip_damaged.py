"""A backup made through the service could not skip a damaged key: `ccapki backup create
--skip-damaged` backs up everything else and names what it left out, but the REST API
(`POST /api/v1/backups`) and the backup job took no such option, so one key whose sealed
bytes no longer open failed every backup the service made. `{"skip_damaged": true}` (the
job's parameter ``skip_damaged``) does what the flag does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ccapki.service.jobs import JobRunner
from ccapki.store import Store
from ccapki.store.records import JobState
from kit.damage import damage_active_key
from kit.service import Service

PASS = "a backup passphrase"


def _damage_key(store: Store, identity: str) -> str:
    """Flips bytes in ``identity``'s active sealed key; returns its fingerprint."""
    with store.fork(deployment="faq-campus") as s:
        return damage_active_key(s, identity)


@pytest.mark.sqlite_only  # bytes of the SQLite file's row changed
def test_a_backup_through_the_service_can_skip_a_damaged_key(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCAPKI_BACKUP_PASSPHRASE", PASS)
    store = service.store
    fp = _damage_key(store, "cam")
    admin = service.client("admin")
    runner = JobRunner(
        store, "test", lease=dt.timedelta(seconds=30), backup_dir=tmp_path / "backups"
    )

    # as before: the damaged key fails the backup, naming it; nothing written
    r = admin.post("/api/v1/backups")
    assert r.status_code == 202, r.text
    assert runner.run_once()
    failed = store.jobs.get(r.json()["id"])
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert fp[:16] in failed.error
    assert '{"skip_damaged": true}' in failed.error  # the service's way, in the hint
    assert not list((tmp_path / "backups").glob("*.backup"))

    # skip_damaged: everything else, and what was left out
    r = admin.post("/api/v1/backups", json={"skip_damaged": True})
    assert r.status_code == 202, r.text
    assert r.json()["params"] == {"skip_damaged": True}
    assert runner.run_once()
    done = store.jobs.get(r.json()["id"])
    assert done.state is JobState.DONE, done.error
    assert isinstance(done.result, dict)
    skipped = done.result["skipped"]
    assert skipped["total"] == 1
    assert [(k["identity"], k["fingerprint"]) for k in skipped["keys"]] == [("cam", fp)]
    assert Path(done.result["path"]).exists()
    assert done.result["identities"] > 0

    # a wrong type is refused at once, nothing queued
    before = len(store.jobs.list())
    r = admin.post("/api/v1/backups", json={"skip_damaged": "yes"})
    assert r.status_code == 422, r.text
    assert "skip_damaged" in r.text
    assert len(store.jobs.list()) == before
