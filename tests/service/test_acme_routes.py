"""The service's ACME routes: the accounts and orders (viewer), an order as a background
job (operator) run by a real :class:`JobRunner` against Debian's pebble, DNS-01 through
the documented hook at pebble-challtestsrv (both started here, as in tests/acme)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ccapki
from ccapki.service.app import create_app
from ccapki.service.jobs import JobRunner
from ccapki.store.records import JobState
from ccapki.store.session import Store
from kit.cli import write
from kit.service import Service, add_users, config_for, running

pytestmark = pytest.mark.integration


def _servers() -> ModuleType:
    """tests/acme/acme_servers.py (the ACME tests' servers; tests/acme is no package)."""
    if "acme_servers" in sys.modules:
        return sys.modules["acme_servers"]
    path = Path(__file__).resolve().parents[1] / "acme" / "acme_servers.py"
    spec = importlib.util.spec_from_file_location("acme_servers", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["acme_servers"] = mod
    spec.loader.exec_module(mod)
    return mod


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # pebble issues on the real clock: so does the store


@pytest.fixture
def acme_service(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, wall_clock: None
) -> Iterator[tuple[Service, Any]]:
    """A store with a deployment whose CAM is ``source = "acme"`` (pebble, the hook), the
    users of each role, the app served; and pebble."""
    servers = _servers()
    chall = servers.ChallTestSrv(tmp_path).start()
    pebble = servers.Pebble(tmp_path, f"127.0.0.1:{chall.dns_port}")
    try:
        pebble.start()
        monkeypatch.setenv("CHALLTESTSRV", chall.management)
        hook = servers.hook_script(tmp_path)
        f = write(
            tmp_path / "acme-campus.toml",
            '[deployment]\nname = "acme-campus"\nrelease = "4.8.0"\norganization = "T"\n\n'
            '[cam]\nname = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\n'
            'source = "acme"\n\n[[cas]]\nname = "cas-1"\nhostname = "cas-1.example.org"\n'
            'ip = "10.0.0.2"\n\n'
            f'[acme]\ndirectory = "{pebble.directory}"\nemail = "pki@example.org"\n'
            f'ca_bundle = "{pebble.bundle}"\ndns = "hook"\nhook = ["{hook}"]\n'
            "propagation_timeout = 30\n",
        )
        with ccapki.init_store(home, key_file=True, clock=_now) as store:
            ccapki.apply(store, ccapki.load_deployment(f), path=str(f))
            tokens = add_users(store)
        app = create_app(config_for(home, clock=_now))
        with running(app) as url:
            svc = Service(app, url, tokens, home)
            try:
                yield svc, pebble
            finally:
                svc.close()
    finally:
        pebble.stop()
        chall.stop()


def test_acme_order_job_and_status(acme_service: tuple[Service, Any]) -> None:
    svc, _ = acme_service
    base = "/api/v1/deployments/acme-campus"
    viewer, operator = svc.client("viewer"), svc.client("operator")
    assert viewer.get(f"{base}/acme").json() == []  # no account yet
    # a viewer may look, not order
    assert viewer.post(f"{base}/acme/order", json={}).status_code == 403
    # refused at once, nothing queued: not an ACME identity, an unknown one
    r = operator.post(f"{base}/acme/order", json={"names": ["cas-1"]})
    assert r.status_code == 400, r.text
    assert "not an ACME identity" in r.json()["error"]
    assert r.json()["hint"]
    assert operator.post(f"{base}/acme/order", json={"names": ["nope"]}).status_code == 404
    assert svc.store.jobs.list(None, 10) == []

    r = operator.post(f"{base}/acme/order", json={})  # what is due: the CAM
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/jobs/{job_id}"
    assert r.json()["kind"] == "acme"
    with Store.open(svc.home, clock=_now) as store:
        assert JobRunner(store, "runner", lease=dt.timedelta(seconds=30)).run_once()
    job = viewer.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == JobState.DONE.value, job
    (order,) = job["result"]["orders"]
    assert order["identity"] == "cam"
    assert order["ok"]
    assert order["version"] == 1
    assert order["names"] == ["cam.example.org"]
    assert any("10.0.0.1 left out" in n for n in job["result"]["notes"])

    (account,) = viewer.get(f"{base}/acme").json()
    assert account["contact"] == ["mailto:pki@example.org"]
    assert [o["state"] for o in account["orders"]] == ["valid"]
    assert "PRIVATE" not in str(account)
    # nothing due any more: the job orders nothing
    r = operator.post(f"{base}/acme/order", json={})
    with Store.open(svc.home, clock=_now) as store:
        assert JobRunner(store, "runner", lease=dt.timedelta(seconds=30)).run_once()
    job = viewer.get(f"/api/v1/jobs/{r.json()['id']}").json()
    assert job["state"] == JobState.DONE.value
    assert job["result"]["orders"] == []


def test_acme_order_job_fails_with_error_and_hint(acme_service: tuple[Service, Any]) -> None:
    svc, pebble = acme_service
    pebble.stop()  # the CA down: the job fails cleanly, nothing stored
    r = svc.client("operator").post("/api/v1/deployments/acme-campus/acme/order", json={})
    assert r.status_code == 202
    with Store.open(svc.home, clock=_now) as store:
        assert JobRunner(store, "runner", lease=dt.timedelta(seconds=30)).run_once()
    job = svc.client("viewer").get(f"/api/v1/jobs/{r.json()['id']}").json()
    assert job["state"] == JobState.FAILED.value, job
    assert "ACME directory is unreachable" in job["error"]
    assert "[acme] directory" in job["hint"]
    assert "Traceback" not in str(job)
    assert svc.client("viewer").get("/api/v1/deployments/acme-campus/acme").json() == []
