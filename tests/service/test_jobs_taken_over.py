"""An apply job taken over after its service died counts the whole job (walkthrough: a team
killed ``ccapki serve`` during an apply of 151 identities; restarted, the job ended "issued
88": the 63 the first attempt had kept were not counted).

Two real ``ccapki serve`` processes, one after the other, over one store: the first is
killed (SIGKILL) once it has committed some identities; the second claims the job when its
lease runs out and finishes it. Its result, its progress and the jobs page count what the
first attempt kept too, and say each attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ccapki
from kit.jobs import bulk_deployment, slow_keys, wait_for
from kit.service import PASSWORDS, login, served_home

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wall_clock")]

#: the job lease of both services (seconds): the killed one's job waits this long
LEASE_SECONDS = 1


def _serve(home: Path, name: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``ccapki serve --no-tls`` on a free port of 127.0.0.1 with the job runner: the
    process and its base URL, once it answers."""
    env = {**os.environ, "CCAPKI_JOB_LEASE": str(LEASE_SECONDS)}
    cmd = [sys.executable, "-m", "ccapki", "--home", str(home), "serve", "--no-tls"]
    cmd += ["--listen", "127.0.0.1:0", "--instance-id", name]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=out)
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()  # "serving on URL (instance NAME)"
    if not first.startswith("serving on "):
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail(f"ccapki serve did not start: {first!r} {log.read_text()}")
    return proc, first.split()[2].rstrip("/")


@pytest.fixture
def served(home: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], list[Any]]]:
    """A store with the test users: its home, their tokens, and the list the test puts its
    service processes in (stopped at the end if still up)."""
    tokens = served_home(home)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield home, tokens, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for log in tmp_path.glob("serve-*.log"):
            assert "Traceback" not in log.read_text(), log.read_text()


def _held(home: Path) -> int:
    """How many identities of the deployment ``bulk`` the store holds (committed)."""
    with ccapki.open_store(home) as store, store.fork(deployment="bulk") as s:
        return len(s.identities.current())


def test_an_apply_taken_over_after_a_killed_service_counts_the_whole_job(
    served: tuple[Path, dict[str, str], list[Any]], tmp_path: Path
) -> None:
    home, tokens, procs = served
    n = 150  # one CAM and 150 CAS, RSA keys: seconds of work
    auth = {"Authorization": f"Bearer {tokens['operator']}"}
    first, url = _serve(home, "first", tmp_path / "serve-first.log")
    procs.append(first)
    with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
        r = c.post("/api/v1/deployments", json={"text": slow_keys(bulk_deployment(n))})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        wait_for(lambda: _held(home), "the apply's first batch committed")
    first.send_signal(signal.SIGKILL)  # the service dies in the middle of the apply
    first.wait()
    kept = _held(home)
    assert kept < n + 1, "the apply ended before the kill"

    second, url = _serve(home, "second", tmp_path / "serve-second.log")
    procs.append(second)
    with httpx.Client(base_url=url, headers=auth, timeout=60) as c:

        def ended() -> dict[str, Any] | None:
            job: dict[str, Any] = c.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["state"] in ("done", "failed", "cancelled") else None

        job = wait_for(ended, f"job {job_id} taken over", deadline=600)
    assert job["state"] == "done", (job["error"], job["hint"])
    assert (job["owner"], job["attempts"]) == ("second", 2)
    assert _held(home) == n + 1
    # the whole job's count: what the first attempt kept and what the second issued
    result = job["result"]
    assert result["issued"] == n + 1
    assert result["attempts"] == [
        {"kept": kept, "of": n + 1},
        {"kept": n + 1 - kept, "of": n + 1 - kept},
    ]
    summary = (
        f"kept {kept} of {n + 1} in the first attempt, {n + 1 - kept} more after the restart: "
        f"{n + 1} in all"
    )
    assert result["summary"] == summary
    assert job["progress"] == {
        "done": n + 1,
        "total": n + 1,
        "earlier": [{"kept": kept, "of": n + 1}],
    }
    # the jobs page says it too
    with httpx.Client(base_url=url, timeout=60) as browser:
        assert login(browser, "viewer", PASSWORDS["viewer"]).status_code == 200
        page = browser.get("/jobs")
        assert page.status_code == 200
        assert summary in page.text
