"""Walkthrough: the service's renew job skipped the ACME identities (only the separate
``acme`` job ordered them), where ``ccapki renew --due --commit`` orders them. The renew
job now orders the due ACME identities the same way, through the same lifecycle functions
(:func:`ccapki.lifecycle.acme.renewal_orders`, :func:`~ccapki.lifecycle.acme.
order_identities`), against Debian's pebble with DNS-01 through the documented hook at
pebble-challtestsrv (tests/acme/acme_servers.py); a failed order fails the job with its
error and hint, and the job's result still says what was done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ccapki
from ccapki.service.jobs import JobRunner, submit
from ccapki.store.records import JobRecord, JobState
from ccapki.store.session import Store
from service.test_acme_routes import _now, _servers

pytestmark = pytest.mark.integration

#: pebble issues for 90 days (a public CA's lifetime): due 60 days on (the last third)
VALIDITY = dt.timedelta(days=90)
LATER = dt.timedelta(days=75)

CAS = '\n[[cas]]\nname = "cas-1"\nhostname = "cas-1.example.org"\nip = "10.0.0.2"\n'


@pytest.fixture
def pebble_store(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, wall_clock: None
) -> Iterator[Any]:
    """A store whose deployment has an ACME CAM (ordered once, by an acme job) and an
    internal CAS; pebble (90-day certificates) and challtestsrv running."""
    servers = _servers()
    chall = servers.ChallTestSrv(tmp_path).start()
    pebble = servers.Pebble(
        tmp_path, f"127.0.0.1:{chall.dns_port}", validity=int(VALIDITY.total_seconds())
    )
    try:
        pebble.start()
        monkeypatch.setenv("CHALLTESTSRV", chall.management)
        hook = servers.hook_script(tmp_path)
        f = servers.campus_file(tmp_path, pebble.directory, pebble.bundle, hook, CAS)
        with ccapki.init_store(home, key_file=True, clock=_now) as store:
            ccapki.apply(store, ccapki.load_deployment(f), path=str(f))  # orders nothing
            job = _run(store, "acme", {})
            assert job.state is JobState.DONE, job.error
        yield pebble
    finally:
        pebble.stop()
        chall.stop()


def _run(store: Store, kind: str, params: dict[str, object]) -> JobRecord:
    queued = submit(store, kind, params, deployment="acme-campus", user="op")
    assert JobRunner(store, "runner", lease=dt.timedelta(seconds=30)).run_once()
    return store.jobs.get(queued.id)


def _clock(ahead: dt.timedelta) -> Callable[[], dt.datetime]:
    return lambda: _now() + ahead


def test_renew_job_orders_the_due_acme_identities(home: Path, pebble_store: Any) -> None:
    with Store.open(home, clock=_now) as store:
        assert store.identities.current()["cam"].version == 1
        # nothing is due today: the renew job orders nothing
        job = _run(store, "renew", {})
        assert job.state is JobState.DONE, job.error
        assert isinstance(job.result, dict)
        assert "acme" not in job.result
        assert store.identities.current()["cam"].version == 1
    with Store.open(home, clock=_clock(LATER)) as store:  # the CAM inside its window
        # the CA down: the order fails the job, with its error and hint and the result
        pebble_store.stop()
        job = _run(store, "renew", {})
        assert job.state is JobState.FAILED, job
        assert "1 of 1 ACME orders failed" in str(job.error), job.error
        assert "ACME directory is unreachable" in str(job.error), job.error
        assert isinstance(job.result, dict)
        (failed,) = job.result["acme"]["orders"]
        assert failed["identity"] == "cam"
        assert not failed["ok"]
        assert failed["hint"]
        assert store.identities.current()["cam"].version == 1
        # the CA back: the renew job orders it, as `ccapki renew --due --commit` does
        pebble_store.start()
        job = _run(store, "renew", {})
        assert job.state is JobState.DONE, job.error
        assert isinstance(job.result, dict)
        assert job.result["planned"] == 0  # nothing to reissue or CSR: only the order
        (order,) = job.result["acme"]["orders"]
        assert order["identity"] == "cam", order
        assert order["ok"], order
        assert order["version"] == 2
        assert order["reused_key"]  # the failed order's pending key, taken up
        assert any("10.0.0.1 left out" in n for n in job.result["acme"]["notes"])
        current = store.identities.current()
        assert current["cam"].version == 2
        assert current["cas-1"].version == 1  # not due: untouched
        # named, due or not: ordered again
        job = _run(store, "renew", {"names": ["cam"], "due": False})
        assert job.state is JobState.DONE, job.error
        assert isinstance(job.result, dict)
        assert [o["version"] for o in job.result["acme"]["orders"]] == [3]
