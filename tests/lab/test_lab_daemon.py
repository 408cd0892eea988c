"""The lab as a supervised background process: up, status, reload, down, signals."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from ccapki.errors import StoreError
from ccapki.lab.daemon import (
    LOG_FILE,
    PID_FILE,
    SPEC_FILE,
    read_state,
    request_reload,
    start_background,
    stop_background,
)
from ccapki.probe import ProbeTarget, probe
from kit.certs import make_ca
from kit.lab import Deployment, run, with_appliance, write_deployment_files

# starts real daemon processes (a few seconds); makes no store: the PostgreSQL run leaves
# it out
pytestmark = [pytest.mark.slow, pytest.mark.no_store]

TESTS = Path(__file__).resolve().parents[1]  # where the kit lives (kit.lab)


def _wait_for(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _no_key_on_disk(state_dir: Path) -> None:
    for f in state_dir.iterdir():
        assert b"PRIVATE KEY" not in f.read_bytes(), f
        assert b"key_pem" not in f.read_bytes(), f


def test_daemon_from_spec_up_status_reload_down(deployment: Deployment, tmp_path: Path) -> None:
    state_dir = tmp_path / "lab"
    try:
        state = start_background(state_dir, spec=deployment.spec(link_interval=0.5))
        assert state.alive
        assert state.pid is not None
        assert (state_dir.stat().st_mode & 0o777) == 0o700
        assert not (state_dir / SPEC_FILE).exists()  # key material deleted once read
        _no_key_on_disk(state_dir)
        assert state.status is not None
        assert state.status.all_ok
        web = state.status.endpoint("cas2", "web-login")
        res = run(
            probe(
                ProbeTarget(web.host, web.port, "cas2.example.edu", deployment.trust, http_get=True)
            )
        )
        assert res.ok, res.error
        assert res.http_title == "Cisco Clean Access — Web Login"

        with pytest.raises(StoreError, match="already runs"):
            start_background(state_dir, spec=deployment.spec())

        # reload with a spec whose cas2 trusts an unrelated CA: its two links break,
        # the daemon keeps the same ports
        other = make_ca("Unrelated")
        bad = with_appliance(
            deployment.spec(link_interval=0.5),
            "cas2",
            identity=deployment.cas2.material(other.root_pem),
        )
        after = request_reload(state_dir, bad)
        assert after.reloads == 1
        assert after.status is not None
        assert after.status.broken_links() == {"status:cas2->cam", "control:cam->cas2"}
        assert after.status.endpoint("cas2", "web-login").port == web.port
        _no_key_on_disk(state_dir)
    finally:
        stopped = stop_background(state_dir)
    assert stopped
    final = read_state(state_dir)
    assert final is not None
    assert not final.alive
    assert final.status is not None
    assert not final.status.running
    assert not (state_dir / PID_FILE).exists()
    log = (state_dir / LOG_FILE).read_text()
    assert "lab daemon stopped" in log
    assert "PRIVATE KEY" not in log
    assert not stop_background(state_dir)  # nothing left to stop


def test_daemon_with_loader_reloads_on_sighup_and_stops_on_sigint(
    deployment: Deployment, tmp_path: Path
) -> None:
    files = tmp_path / "pki"
    write_deployment_files(str(files), deployment)
    state_dir = tmp_path / "lab"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    try:
        state = start_background(
            state_dir, loader="kit.lab:load_from_folder", loader_args=[str(files)], env=env
        )
        assert state.status is not None
        assert state.status.all_ok
        assert state.pid is not None
        # the admin breaks the trust file; the periodic links keep the old contexts until
        # a reload, then the reload reads the files again
        other = make_ca("Unrelated")
        (files / "root.pem").write_bytes(other.root_pem)
        os.kill(state.pid, signal.SIGHUP)
        assert _wait_for(lambda: (s := read_state(state_dir)) is not None and s.reloads == 1)
        assert _wait_for(
            lambda: (
                (s := read_state(state_dir)) is not None
                and s.status is not None
                and len(s.status.broken_links()) == 7
            )
        )
        # a reload request file works too
        (files / "root.pem").write_bytes(deployment.trust)
        (state_dir / "reload.request").write_text("")
        assert _wait_for(lambda: (s := read_state(state_dir)) is not None and s.reloads == 2)
        s = read_state(state_dir)
        assert s is not None
        assert s.status is not None
        assert s.status.all_ok
        os.kill(state.pid, signal.SIGINT)
        assert _wait_for(lambda: not (state_dir / PID_FILE).exists())
        final = read_state(state_dir)
        assert final is not None
        assert not final.alive
    finally:
        stop_background(state_dir)


def test_daemon_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    state_dir = tmp_path / "lab"
    with pytest.raises(StoreError, match="exited with code"):
        start_background(state_dir, loader="no_such_module_xyz:load", timeout=20)
    assert read_state(state_dir) is None or not read_state(state_dir).alive  # type: ignore[union-attr]
