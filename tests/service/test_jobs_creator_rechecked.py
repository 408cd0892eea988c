"""A queued job runs as the user who asked for it, so that user is checked again when the
job runs (walkthrough R): disabled since (a stolen token: the admin disables the account)
or demoted below the role the job's route needs, the job fails with an error and a hint
and does nothing, never issuing in that user's name. A job taken over after a restart is
checked again too. A name that is no user of the store (a job queued from Python) runs as
ever. Cancelling a job needs the role its kind needs, as queuing it does (an operator
stopped an admin's backup). On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner, split_error, submit
from ccapki.store import Store
from ccapki.store.records import JobState, Role
from kit.cli import FAQ
from kit.jobs import Clock, pg_schema
from kit.service import Service, config_for, running

LEASE = dt.timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    schema: contextlib.AbstractContextManager[str | None] = (
        pg_schema() if request.param == "postgresql" else contextlib.nullcontext()
    )
    with schema as url, Store.init(tmp_path / "store", url=url, key_file=True, clock=Clock()) as s:
        s.users.add("root", Role.ADMIN, None)  # someone to disable and demote the others
        yield s


def _issued_by(store: Store, name: str) -> list[str]:
    return [e.subject for e in store.audit.log(1000) if e.actor == name and e.action == "issue"]


def test_a_job_of_a_user_disabled_since_it_was_queued_is_not_run(store: Store) -> None:
    bob = store.users.add("bob", Role.OPERATOR, None)
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user=bob)
    store.users.update("bob", disabled=True)  # after queuing, before any runner claims it
    assert JobRunner(store, "one", lease=LEASE).run_once()
    failed = store.jobs.get(job.id)
    assert failed.state is JobState.FAILED
    message, hint = split_error(failed.error)
    assert message is not None
    assert "'bob' was disabled" in message
    assert hint is not None
    assert "queue it again" in hint
    # nothing happened in bob's name: no deployment, no certificate
    assert store.deployments.names() == []
    assert _issued_by(store, "bob") == []


def test_a_job_of_a_user_demoted_below_its_role_is_not_run(store: Store) -> None:
    bob = store.users.add("bob", Role.OPERATOR, None)
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user=bob)
    store.users.update("bob", role=Role.VIEWER)
    assert JobRunner(store, "one", lease=LEASE).run_once()
    failed = store.jobs.get(job.id)
    assert failed.state is JobState.FAILED
    message, _ = split_error(failed.error)
    assert message is not None
    assert "'bob' is viewer now" in message
    assert "operator" in message
    assert store.deployments.names() == []
    # a backup needs admin: an admin made operator since it was queued gets none made
    ann = store.users.add("ann", Role.ADMIN, None)
    backup = submit(store, "backup", {}, deployment=None, user=ann, backup_passphrase="pw-pw-pw-pw")
    store.users.update("ann", role=Role.OPERATOR)
    runner = JobRunner(store, "one", lease=LEASE, backup_passphrase="pw-pw-pw-pw")
    assert runner.run_once()
    refused = store.jobs.get(backup.id)
    assert refused.state is JobState.FAILED
    message, _ = split_error(refused.error)
    assert message is not None
    assert "'ann' is operator now" in message
    assert not (store.home / "backups").exists() or not any((store.home / "backups").iterdir())


def test_a_job_taken_over_after_a_restart_checks_its_user_again(store: Store) -> None:
    bob = store.users.add("bob", Role.OPERATOR, None)
    job = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user=bob)
    # an instance claimed it and died (its lease ran out) before doing anything
    claimed = store.jobs.claim("dead", -dt.timedelta(seconds=1))
    assert claimed is not None
    assert claimed.id == job.id
    store.users.update("bob", disabled=True)
    assert JobRunner(store, "two", lease=LEASE).run_once()
    failed = store.jobs.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.attempts == 2
    assert _issued_by(store, "bob") == []


def test_a_user_still_allowed_and_a_name_of_no_user_run_as_ever(store: Store) -> None:
    bob = store.users.add("bob", Role.OPERATOR, None)
    ran = submit(store, "apply", {"text": FAQ.read_text()}, deployment=None, user=bob)
    store.users.update("bob", role=Role.ADMIN)  # promoted: may do more, not less
    runner = JobRunner(store, "one", lease=LEASE)
    assert runner.run_once()
    assert store.jobs.get(ran.id).state is JobState.DONE
    assert _issued_by(store, "bob")
    # queued from Python under a name that is no user of the store: runs as it did
    script = submit(store, "apply", {}, deployment="faq-campus", user="nightly-script")
    assert runner.run_once()
    assert store.jobs.get(script.id).state is JobState.DONE


def test_an_operator_cannot_cancel_an_admins_backup(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    """Cancelling a job needs the role its kind needs (as queuing it does): an operator
    may stop an apply, not an admin's backup."""
    home, tokens = service_home
    app = create_app(config_for(home))
    with running(app) as url:
        svc = Service(app, url, tokens, home)
        try:
            backup = submit(
                svc.store,
                "backup",
                {},
                deployment=None,
                user="admin",
                backup_passphrase="pw-pw-pw-pw",
            )
            r = svc.client("operator").post(f"/api/v1/jobs/{backup.id}/cancel")
            assert r.status_code == 403, r.text
            assert "admin" in r.json()["error"]
            assert svc.store.jobs.get(backup.id).state is JobState.QUEUED
            assert not [e for e in svc.store.audit.log(50) if e.action == "job-cancel"]
            # an apply is an operator's to cancel; the backup an admin's
            apply = submit(svc.store, "apply", {}, deployment="faq-campus", user="admin")
            assert svc.client("operator").post(f"/api/v1/jobs/{apply.id}/cancel").status_code == 200
            assert svc.store.jobs.get(apply.id).state is JobState.CANCELLED
            assert svc.client("admin").post(f"/api/v1/jobs/{backup.id}/cancel").status_code == 200
            assert svc.store.jobs.get(backup.id).state is JobState.CANCELLED
        finally:
            svc.close()
