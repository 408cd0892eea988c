"""Several service instances on one PostgreSQL database, as real processes on 127.0.0.1.

Issuing, importing and renewing at once through both (concurrent HTTP requests from
threads) never issues one identity twice, reuses a serial number or loses a write (the
database is checked afterwards: versions contiguous, serials unique, an audit row for every
certificate); an instance killed (SIGKILL) while it runs a long apply gives the job up
after its lease, and the other instance finishes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, text

from ccapki.service.auth import issue_token
from ccapki.store import Store
from ccapki.store.records import Role
from kit.certs import OutsideCA
from kit.jobs import bulk_deployment, pg_schema, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("wall_clock")]

#: the job lease of the instances (seconds): a killed instance's job waits this long
LEASE_SECONDS = 2

#: ``ccapki serve`` until the command exists: uvicorn on ``create_app`` in a process
_SERVER = """
import sys
from pathlib import Path

import uvicorn

from ccapki.service.app import create_app
from ccapki.service.config import ServiceConfig

home, url, port, name = sys.argv[1:5]
config = ServiceConfig(
    home=Path(home), database_url=url, tls=False, host="127.0.0.1", port=int(port),
    instance_id=name,
)
uvicorn.run(create_app(config), host="127.0.0.1", port=int(port), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _has_serve() -> bool:
    ccapki = Path(sys.executable).parent / "ccapki"
    r = subprocess.run(
        [ccapki, "serve", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    return r.returncode == 0 and "--no-tls" in r.stdout


@dataclass
class Instance:
    """One service process."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def owns(self, owner: str | None) -> bool:
        """Whether a job's ``owner`` is this instance (its name, or ``HOST:PID``)."""
        return owner is not None and (owner == self.name or owner.endswith(f":{self.proc.pid}"))


@dataclass
class Cluster:
    """Two instances on one PostgreSQL schema, and an admin's token."""

    home: Path
    db_url: str
    instances: list[Instance]
    headers: dict[str, str]

    def client(self, i: int) -> httpx.Client:
        return httpx.Client(base_url=self.instances[i].url, headers=self.headers, timeout=120)


def _start(home: Path, db_url: str, name: str, log: Path, serve: bool) -> Instance:
    port = _free_port()
    env = {**os.environ, "CCAPKI_JOB_LEASE": str(LEASE_SECONDS), "CCAPKI_DATABASE_URL": db_url}
    if serve:
        ccapki = str(Path(sys.executable).parent / "ccapki")
        cmd = [ccapki, "--home", str(home), "serve", "--no-tls", "--listen", f"127.0.0.1:{port}"]
    else:
        cmd = [sys.executable, "-c", _SERVER, str(home), db_url, str(port), name]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"instance {name} exited: {log.read_text()}")
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, f"instance {name} on {url}", deadline=60)
    return Instance(name, proc, url, log)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with pg_schema() as db_url:
        home = tmp_path / "store"
        with Store.init(home, url=db_url, key_file=True) as store:
            admin = store.users.add("root", Role.ADMIN, None)
            token, _ = issue_token(store, admin)
        serve = _has_serve()
        instances: list[Instance] = []
        try:
            for name in ("a", "b"):
                instances.append(_start(home, db_url, name, tmp_path / f"{name}.log", serve))
            yield Cluster(home, db_url, instances, {"Authorization": f"Bearer {token}"})
        finally:
            for inst in instances:
                if inst.proc.poll() is None:
                    inst.proc.send_signal(signal.SIGTERM)
            for inst in instances:
                try:
                    inst.proc.wait(30)
                except subprocess.TimeoutExpired:
                    inst.proc.kill()
                    inst.proc.wait()
            for inst in instances:
                assert "Traceback" not in inst.log.read_text(), inst.log.read_text()


def _job_end(client: httpx.Client, job_id: int) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("done", "failed", "cancelled") else None

    return wait_for(ended, f"job {job_id}", deadline=300)


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _rows(db_url: str, sql: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _check_database(db_url: str) -> dict[str, list[int]]:
    """No identity issued twice, no serial reused, no write lost: each identity's versions
    are 1..n, every serial is unique per issuer, every certificate has its audit row.
    Returns the versions of each identity."""
    versions: dict[str, list[int]] = {}
    for identity, version in _rows(
        db_url, "SELECT identity, version FROM certificates ORDER BY identity, version"
    ):
        versions.setdefault(identity, []).append(version)
    for identity, vs in versions.items():
        assert vs == list(range(1, len(vs) + 1)), (identity, vs)
    serials = _rows(db_url, "SELECT issuer, serial FROM certificates")
    assert len(set(serials)) == len(serials)
    fingerprints = {r[0] for r in _rows(db_url, "SELECT fingerprint FROM certificates")}
    audited = {
        json.loads(detail).get("fingerprint")
        for (detail,) in _rows(db_url, "SELECT detail FROM audit")
    }
    assert fingerprints <= audited, fingerprints - audited
    return versions


def test_two_instances_issue_import_and_renew_at_once_without_a_lost_write(
    cluster: Cluster, tmp_path: Path
) -> None:
    n, tp = 600, 6
    dep = bulk_deployment(n, third_party=tp)
    a, b = cluster.client(0), cluster.client(1)
    with a, b:
        # issue: the same file applied six times at once, three through each instance
        answers = _at_once(
            [(lambda c=c: c.post("/api/v1/deployments", json={"text": dep})) for c in (a, b) * 3]
        )
        assert [r.status_code for r in answers] == [202] * 6, [r.text for r in answers]
        jobs = [_job_end(a, r.json()["id"]) for r in answers]
        assert [j["state"] for j in jobs] == ["done"] * 6, [j["error"] for j in jobs]
        # every internal identity issued once, by one of the six
        assert sum(j["result"]["issued"] for j in jobs) == n + 1

        # CSRs for the third-party identities, answered by an outside CA
        made = a.post("/api/v1/deployments/bulk/csrs", json={"identities": None})
        assert made.status_code == 200, made.text
        outside = OutsideCA.make(now=dt.datetime.now(dt.UTC))
        files: dict[str, bytes] = {}
        for csr in made.json():
            req = x509.load_pem_x509_csr(csr["pem"].encode())
            cert = outside.sign_csr(req)
            files[csr["identity"]] = b"".join(
                c.public_bytes(serialization.Encoding.PEM) for c in (cert, *outside.chain)
            )
        assert sorted(files) == [f"tp{i}" for i in range(tp)]

        def upload(c: httpx.Client, name: str) -> httpx.Response:
            return c.post(
                "/api/v1/deployments/bulk/import",
                files={"files": (f"{name}.pem", files[name], "application/x-pem-file")},
            )

        # import (each certificate through both instances at once), renew (overlapping
        # names through both) and apply again, all at once
        calls: list[Callable[[], httpx.Response]] = []
        for name in files:
            calls += [lambda name=name: upload(a, name), lambda name=name: upload(b, name)]
        first = [f"cas{i}" for i in range(0, 10)]
        second = [f"cas{i}" for i in range(5, 15)]
        calls += [
            lambda: a.post("/api/v1/deployments/bulk/renew", json={"names": first}),
            lambda: b.post("/api/v1/deployments/bulk/renew", json={"names": second}),
            lambda: b.post("/api/v1/deployments/bulk/apply"),
        ]
        answers = _at_once(calls)
        imports, renews = answers[: 2 * tp], answers[2 * tp :]
        for r in imports:  # one import of each lands; the other finds it there or waits
            assert r.status_code in (200, 409, 422, 503), r.text
            if r.status_code != 200:
                assert r.headers["content-type"].startswith("application/problem+json")
        assert [r.status_code for r in renews] == [202] * 3, [r.text for r in renews]
        ended = [_job_end(a, r.json()["id"]) for r in renews]
        assert [j["state"] for j in ended] == ["done"] * 3, [j["error"] for j in ended]
        renewed = [r["identity"] for j in ended[:2] for r in j["result"]["renewed"]]
        elsewhere = [x for j in ended[:2] for x in j["result"]["elsewhere"]]
        # each named identity renewed, by one job or by both one after the other (the one
        # that planned it before the other's commit leaves it alone: "elsewhere")
        assert set(renewed) | set(elsewhere) == set(first) | set(second)
        assert not set(renewed) & set(elsewhere) - {f"cas{i}" for i in range(5, 10)}
        assert ended[2]["result"]["issued"] == 0

    versions = _check_database(cluster.db_url)
    for i in range(n):  # every renewal reported is a version: none lost, none twice
        assert len(versions[f"cas{i}"]) == 1 + renewed.count(f"cas{i}"), (i, renewed)
    for i in range(tp):
        assert versions[f"tp{i}"] == [1]  # imported once, though sent twice at once


def test_a_killed_instances_job_is_finished_by_the_other(cluster: Cluster) -> None:
    n = 6000
    a = cluster.client(0)
    with a:
        answer = a.post("/api/v1/deployments", json={"text": bulk_deployment(n)})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]

        def issuing() -> dict[str, Any] | None:
            job: dict[str, Any] = a.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["progress"].get("done") else None

        job = wait_for(issuing, "the apply's first progress")
        [victim] = [i for i in cluster.instances if i.owns(job["owner"])]
        [survivor] = [i for i in cluster.instances if i is not victim]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
    orphan = _rows(cluster.db_url, f"SELECT state, owner, attempts FROM jobs WHERE id = {job_id}")[
        0
    ]
    assert tuple(orphan) == ("running", job["owner"], 1), "the apply ended before the kill"
    with httpx.Client(base_url=survivor.url, headers=cluster.headers, timeout=120) as b:
        done = _job_end(b, job_id)
    assert done["state"] == "done", done["error"]
    assert survivor.owns(done["owner"])
    assert done["attempts"] == 2
    versions = _check_database(cluster.db_url)
    assert len(versions) == n + 1
    assert all(v == [1] for v in versions.values())
