"""Background jobs: queued with :func:`submit`, claimed and run by a :class:`JobRunner`
through the Python API (apply, probe, backup, renew) with their progress, results and
errors (message and hint, never a traceback); cancelled at a safe point; given back when
the runner stops; taken over after the lease of an instance that died. And the
``/api/v1/jobs`` routes (viewers read, operators cancel). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ccapki.errors import InputError, NotFoundError, PasswordError
from ccapki.service.app import create_app
from ccapki.service.auth import issue_token
from ccapki.service.config import ServiceConfig
from ccapki.service.jobs import JobRunner, submit
from ccapki.store import Store
from ccapki.store.records import JobRecord, JobState, Role
from kit.certs import NOW
from kit.cli import FAQ
from kit.jobs import Clock, bulk_deployment, cancelled_apply, pg_schema, slow_keys, wait_for

LEASE = dt.timedelta(seconds=30)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    schema: contextlib.AbstractContextManager[str | None] = (
        pg_schema() if request.param == "postgresql" else contextlib.nullcontext()
    )
    with schema as url, Store.init(tmp_path / "store", url=url, key_file=True, clock=clock) as s:
        yield s


def _identities(store: Store, deployment: str) -> int:
    with store.fork(deployment=deployment) as s:
        return len(s.identities.current())


def test_an_apply_job_issues_the_uploaded_deployment_and_records_its_progress(
    store: Store,
) -> None:
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="alice")
    assert (job.state, job.deployment, job.created_by) == (JobState.QUEUED, "faq-campus", "alice")
    runner = JobRunner(store, "one", lease=LEASE)
    assert runner.run_once()
    done = store.jobs.get(job.id)
    assert done.state is JobState.DONE, done.error
    assert done.owner == "one"
    assert isinstance(done.result, dict)
    n = _identities(store, "faq-campus")
    assert done.result["issued"] == n > 0
    assert done.progress == {"done": n, "total": n}
    # the store's audit log says who: the job ran as the user who asked
    actors = {e.actor for e in store.audit.log(500) if e.action == "issue"}
    assert actors == {"alice"}
    # an apply without text applies the stored file again: nothing to do
    again = submit(store, "apply", {}, deployment="faq-campus", user="alice")
    assert runner.run_once()
    again_done = store.jobs.get(again.id)
    assert again_done.state is JobState.DONE
    assert isinstance(again_done.result, dict)
    assert again_done.result["issued"] == 0
    assert not runner.run_once()  # nothing queued


def test_bad_jobs_are_refused_when_submitted(store: Store) -> None:
    with pytest.raises(InputError, match="no job kind"):
        submit(store, "format-disk", {}, deployment=None, user="a")
    with pytest.raises(InputError, match="takes no parameter 'dry_run'"):
        submit(store, "apply", {"dry_run": True}, deployment=None, user="a")
    with pytest.raises(InputError, match="takes no passphrase"):
        submit(store, "backup", {"passphrase": "x"}, deployment=None, user="a")
    with pytest.raises(InputError):  # a broken deployment file: its line and hint
        submit(store, "apply", {"text": "[deployment\n"}, deployment=None, user="a")
    with pytest.raises(InputError, match="not 'other'"):
        submit(store, "apply", {"text": FAQ.read_text()}, deployment="other", user="a")
    with pytest.raises(NotFoundError):  # nothing applied yet: no file to probe with
        submit(store, "probe", {}, deployment=None, user="a")
    assert store.jobs.list() == []


def test_a_failing_job_ends_with_the_errors_message_and_hint(store: Store) -> None:
    submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="op")
    runner = JobRunner(store, "one", lease=LEASE)
    runner.run_once()
    # no lab runs and the file gives no endpoints: the probe fails as the CLI would
    job = submit(store, "probe", {"target": "lab"}, deployment="faq-campus", user="op")
    runner.run_once()
    failed = store.jobs.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    message, _, hint = failed.error.partition("\nhint: ")
    assert "no endpoint to probe" in message
    assert "ccapki lab up" in hint
    assert "Traceback" not in failed.error
    # a backup without a passphrase for the service: refused when the job runs (the runner
    # has none, though the submitter had one), with what to set
    backup = submit(store, "backup", {}, deployment=None, user="admin", backup_passphrase="x")
    JobRunner(store, "one", lease=LEASE).run_once()
    refused = store.jobs.get(backup.id)
    assert refused.state is JobState.FAILED
    assert refused.error is not None
    assert "CCAPKI_BACKUP_PASSPHRASE" in refused.error


def test_backup_and_renew_jobs(store: Store, tmp_path: Path) -> None:
    submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="op")
    runner = JobRunner(
        store, "one", lease=LEASE, backup_dir=tmp_path / "bk", backup_passphrase="a long pass"
    )
    runner.run_once()
    backup = submit(
        store, "backup", {}, deployment="ignored", user="admin", backup_passphrase="a long pass"
    )
    assert backup.deployment is None  # a backup is of the whole store
    runner.run_once()
    made = store.jobs.get(backup.id)
    assert made.state is JobState.DONE, made.error
    assert isinstance(made.result, dict)
    path = Path(str(made.result["path"]))
    assert path.parent == (tmp_path / "bk").resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.result["identities"] == _identities(store, "faq-campus")
    assert made.result["bytes"] == path.stat().st_size

    with store.fork(deployment="faq-campus") as s:
        before = s.identities.current()["cas-dorm"].version
    renew = submit(store, "renew", {"names": ["cas-dorm"]}, deployment="faq-campus", user="op")
    runner.run_once()
    renewed = store.jobs.get(renew.id)
    assert renewed.state is JobState.DONE, renewed.error
    assert isinstance(renewed.result, dict)
    assert [r["identity"] for r in renewed.result["renewed"]] == ["cas-dorm"]
    with store.fork(deployment="faq-campus") as s:
        assert s.identities.current()["cas-dorm"].version == before + 1


def _running_apply(store: Store, n: int) -> tuple[int, JobRunner]:
    """A runner in its thread, applying ``n`` identities, seen past its first batch."""
    job = submit(store, "apply", {"text": bulk_deployment(n)}, deployment=None, user="op")
    runner = JobRunner(store, "one", lease=dt.timedelta(seconds=0.6), poll=0.05)
    runner.start()
    wait_for(lambda: _identities(store, "bulk"), "the apply's first batch")
    return job.id, runner


def test_a_cancelled_apply_stops_between_batches_and_keeps_what_was_committed(
    store: Store,
) -> None:
    n = 2000
    job_id, runner = _running_apply(store, n)
    try:
        assert store.jobs.cancel(job_id).cancel_requested
        ended = wait_for(
            lambda: (j := store.jobs.get(job_id)).state.finished and j, "the cancelled job"
        )
    finally:
        runner.stop()
    assert ended.state is JobState.CANCELLED
    kept = _identities(store, "bulk")
    assert 0 < kept < n + 1
    assert ended.error == f"cancelled\nhint: {kept} of {n + 1} identities were kept; " + (
        "run the command again to finish"
    )
    # a second apply issues the rest
    again = submit(store, "apply", {}, deployment="bulk", user="op")
    JobRunner(store, "two", lease=LEASE).run_once()
    rest = store.jobs.get(again.id)
    assert rest.state is JobState.DONE, rest.error
    assert isinstance(rest.result, dict)
    assert rest.result["issued"] == n + 1 - kept
    assert _identities(store, "bulk") == n + 1


def test_a_stopping_runner_gives_its_job_back_and_another_finishes_it(store: Store) -> None:
    n = 2000
    job_id, runner = _running_apply(store, n)
    runner.stop()
    given_back = store.jobs.get(job_id)
    assert given_back.state is JobState.RUNNING
    assert given_back.lease_until is not None
    assert given_back.lease_until < store.now()
    kept = _identities(store, "bulk")
    assert 0 < kept < n + 1
    assert given_back.progress == {"done": kept, "total": n + 1}
    other = JobRunner(store, "two", lease=LEASE)
    assert other.run_once()
    finished = store.jobs.get(job_id)
    assert finished.state is JobState.DONE, finished.error
    assert (finished.owner, finished.attempts) == ("two", 2)
    assert _identities(store, "bulk") == n + 1
    # the result counts the whole job, not only the attempt after the restart
    assert isinstance(finished.result, dict)
    assert finished.result["issued"] == n + 1
    assert finished.result["attempts"] == [
        {"kept": kept, "of": n + 1},
        {"kept": n + 1 - kept, "of": n + 1 - kept},
    ]
    assert finished.result["summary"] == (
        f"kept {kept} of {n + 1} in the first attempt, {n + 1 - kept} more after the "
        f"restart: {n + 1} in all"
    )
    assert finished.progress == {
        "done": n + 1,
        "total": n + 1,
        "earlier": [{"kept": kept, "of": n + 1}],
    }


def test_a_cancel_after_a_restart_says_what_the_whole_job_kept(store: Store) -> None:
    n = 200  # RSA keys: seconds of work, committed every couple of seconds
    job = submit(
        store, "apply", {"text": slow_keys(bulk_deployment(n))}, deployment=None, user="op"
    )
    first = JobRunner(store, "one", lease=dt.timedelta(seconds=0.6), poll=0.05)
    first.start()
    wait_for(lambda: _identities(store, "bulk"), "the first attempt's first batch")
    first.stop()  # the service restarts: the job is given back
    kept = _identities(store, "bulk")
    second = JobRunner(store, "two", lease=dt.timedelta(seconds=0.6), poll=0.05)
    second.start()
    try:
        wait_for(lambda: _identities(store, "bulk") > kept, "the second attempt's first batch")
        store.jobs.cancel(job.id)
        ended = wait_for(
            lambda: (j := store.jobs.get(job.id)).state.finished and j, "the cancelled job"
        )
    finally:
        second.stop()
    assert ended.state is JobState.CANCELLED, ended.error
    held = _identities(store, "bulk")
    assert kept < held < n + 1, "the apply ended before the cancel"
    words = (
        f"kept {kept} of {n + 1} in the first attempt, {held - kept} more after the restart: "
        f"{held} in all"
    )
    assert ended.error == (
        f"cancelled\nhint: {held} of {n + 1} identities were kept ({words}); "
        "run the command again to finish"
    )
    assert ended.progress == {
        "done": held,
        "total": n + 1,
        "earlier": [{"kept": kept, "of": n + 1}],
    }
    assert isinstance(ended.result, dict)
    assert ended.result["summary"] == words
    assert len(ended.result["kept"]) == held - kept  # this attempt's, by name


def test_a_dead_instances_job_is_taken_over_after_its_lease(store: Store, clock: Clock) -> None:
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="op")
    # instance "dead" claims the job and dies (it never renews its lease)
    assert store.jobs.claim("dead", dt.timedelta(minutes=1)) is not None
    runner = JobRunner(store, "alive", lease=LEASE)
    assert not runner.run_once()  # its lease holds
    clock.now = NOW + dt.timedelta(minutes=2)
    assert runner.run_once()
    taken = store.jobs.get(job.id)
    assert taken.state is JobState.DONE, taken.error
    assert (taken.owner, taken.attempts) == ("alive", 2)
    # the dead instance, back, learns it lost the job
    assert not store.jobs.heartbeat(job.id, "dead", LEASE)


# ---------------------------------------------------------------------------- routes


class _Client:
    """Requests to the app in process (ASGI), one event loop each."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, url, headers=headers)

        return asyncio.run(go())

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("GET", url, headers)

    def post(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("POST", url, headers)

    def request_json(
        self, method: str, url: str, body: object, headers: dict[str, str]
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, url, json=body, headers=headers)

        return asyncio.run(go())


def _client(store: Store, tmp_path: Path) -> _Client:
    config = ServiceConfig(home=tmp_path / "store", tls=False, jobs_enabled=False)
    return _Client(create_app(config, store=store))


def _token(store: Store, name: str, role: Role) -> dict[str, str]:
    token, _ = issue_token(store, store.users.add(name, role, None))
    return {"Authorization": f"Bearer {token}"}


def test_job_routes_viewers_read_operators_cancel(store: Store, tmp_path: Path) -> None:
    viewer = _token(store, "vera", Role.VIEWER)
    operator = _token(store, "otto", Role.OPERATOR)
    applied = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="otto")
    JobRunner(store, "one", lease=LEASE).run_once()
    job = submit(store, "renew", {"names": ["cas-dorm"]}, deployment="faq-campus", user="otto")
    client = _client(store, tmp_path)
    assert client.get("/api/v1/jobs").status_code == 401
    listed = client.get("/api/v1/jobs", headers=viewer)
    assert listed.status_code == 200
    assert [j["id"] for j in listed.json()] == [job.id, applied.id]  # newest first
    shown = listed.json()[1]
    assert (shown["state"], shown["kind"], shown["created_by"]) == ("done", "apply", "otto")
    assert "text" not in shown["params"]  # the uploaded file is not sent back
    assert shown["params"]["text_bytes"] == len(FAQ.read_bytes())
    assert shown["result"]["issued"] == _identities(store, "faq-campus")
    one = client.get(f"/api/v1/jobs/{job.id}", headers=viewer).json()
    assert (one["state"], one["params"]) == ("queued", {"names": ["cas-dorm"]})
    done = client.get("/api/v1/jobs?state=done&state=failed", headers=viewer).json()
    assert [j["id"] for j in done] == [applied.id]
    refused = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=viewer)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    cancelled = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=operator)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    missing = client.get("/api/v1/jobs/999999", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["error"] == "no job 999999"
    assert missing.json()["hint"]
    entry = next(e for e in store.audit.log() if e.action == "job-cancel")
    assert (entry.subject, entry.actor) == (str(job.id), "otto")
    # the job's end shows its error and hint apart
    failed = submit(store, "probe", {"target": "lab"}, deployment="faq-campus", user="otto")
    JobRunner(store, "one", lease=LEASE).run_once()  # the probe fails: no lab, no endpoints
    shown = client.get(f"/api/v1/jobs/{failed.id}", headers=viewer).json()
    assert shown["state"] == "failed"
    assert "no endpoint to probe" in shown["error"]
    assert "ccapki lab up" in shown["hint"]


def test_the_app_runs_jobs_in_the_background(store: Store, tmp_path: Path) -> None:
    config = ServiceConfig(home=tmp_path / "store", tls=False, instance_id="bg")
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="otto")
    app = create_app(config, store=store)

    async def serve() -> object:
        async with app.router.lifespan_context(app):
            return await asyncio.to_thread(
                wait_for,
                lambda: (j := store.jobs.get(job.id)).state.finished and j,
                "the job's end",
            )

    done = asyncio.run(serve())
    assert isinstance(done, JobRecord)
    assert done.state is JobState.DONE, done.error
    assert done.owner == "bg"


# ---------------------------------------------------------------------------- issue 13 walkthrough


def test_an_apply_job_reports_each_identity_and_a_cancel_stops_it_soon(store: Store) -> None:
    n = 100
    first, ended = cancelled_apply(store, slow_keys(bulk_deployment(n)))
    # told per identity, not per chunk of 64; stopped between identities, not chunks
    assert 1 <= first < 64
    assert ended.state is JobState.CANCELLED
    assert ended.progress["total"] == n + 1
    assert ended.progress["done"] < 64  # type: ignore[operator]


def test_a_cancelled_apply_that_kept_nothing_leaves_no_deployment_nor_cas(store: Store) -> None:
    _, ended = cancelled_apply(store, slow_keys(bulk_deployment(60, "big")))
    assert ended.state is JobState.CANCELLED
    assert "big" not in store.deployments.names()
    with store.fork(deployment="big") as s:
        assert s.cas.list() == []
        assert s.deployments.latest() is None
    assert ended.result == {
        "deployment": "big",
        "kept": [],
        "total": 61,
        "rolled_back": {
            "deployment": "big",
            "cas": ["Bulk Org Clean Access Root CA", "Bulk Org Clean Access Appliance CA"],
        },
    }
    assert ended.error is not None
    assert "0 of 61 identities were kept" in ended.error
    assert "rolled back" in ended.error


def test_jobs_that_cannot_succeed_are_refused_when_submitted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user="op")
    JobRunner(store, "one", lease=LEASE).run_once()
    before = len(store.jobs.list())
    with pytest.raises(NotFoundError, match="no identity or appliance named 'nope'"):
        submit(store, "renew", {"names": ["nope"]}, deployment="faq-campus", user="op")
    monkeypatch.delenv("CCAPKI_BACKUP_PASSPHRASE", raising=False)
    with pytest.raises(PasswordError, match="no backup passphrase"):
        submit(store, "backup", {}, deployment=None, user="admin")
    assert len(store.jobs.list()) == before
    # over the API: a problem at once, nothing queued
    client = _client(store, tmp_path=store.home.parent)
    operator = _token(store, "otto", Role.OPERATOR)
    admin = _token(store, "ada", Role.ADMIN)
    r = client.request_json(
        "POST", "/api/v1/deployments/faq-campus/renew", {"names": ["nope"]}, operator
    )
    assert r.status_code == 404, r.text
    assert "nope" in r.json()["error"]
    r = client.request_json("POST", "/api/v1/backups", None, admin)
    assert r.status_code == 422, r.text
    assert "CCAPKI_BACKUP_PASSPHRASE" in r.json()["hint"]
    assert len(store.jobs.list()) == before
    # with the passphrase in the environment, a backup is queued
    monkeypatch.setenv("CCAPKI_BACKUP_PASSPHRASE", "a long passphrase")
    assert submit(store, "backup", {}, deployment=None, user="admin").state is JobState.QUEUED
