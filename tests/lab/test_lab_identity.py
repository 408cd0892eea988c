"""Issue 8, item 14: a lab daemon belongs to its state folder. A copied folder, or a pid file
whose pid now names another process, never lets ``stop_background`` or ``request_reload``
signal a process that is not this folder's lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.errors import StoreError
from ccapki.lab.daemon import (
    PID_FILE,
    STATE_FILE,
    read_state,
    request_reload,
    start_background,
    stop_background,
)
from kit.lab import Deployment
from kit.tools import need

pytestmark = [pytest.mark.slow, pytest.mark.no_store]  # starts a real daemon process


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process (what a reused pid names)."""
    proc = subprocess.Popen(["sleep", "60"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while cmdline.exists() and b"sleep" not in cmdline.read_bytes():
        assert time.monotonic() < deadline, "sleep did not start"
        time.sleep(0.01)  # until exec: before it, the child shows this process's arguments
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_copied_state_folder_does_not_reach_the_original_daemon(
    deployment: Deployment, tmp_path: Path
) -> None:
    state_dir = tmp_path / "lab"
    copy = tmp_path / "copy"
    try:
        state = start_background(state_dir, spec=deployment.spec(link_interval=0.5))
        assert state.pid is not None
        shutil.copytree(state_dir, copy)
        seen = read_state(copy)
        assert seen is not None
        assert not seen.alive
        assert seen.foreign is not None
        assert str(state_dir) in seen.foreign  # where the copied state came from
        assert not (copy / PID_FILE).exists()  # the stale copy is removed
        assert not (copy / STATE_FILE).exists()
        shutil.copytree(state_dir, copy, dirs_exist_ok=True)
        with pytest.raises(StoreError, match="no lab runs"):
            request_reload(copy)
        shutil.copytree(state_dir, copy, dirs_exist_ok=True)
        assert stop_background(copy, timeout=2.0) is False
        assert _running(state.pid)
        after = read_state(state_dir)
        assert after is not None
        assert after.alive
        assert after.reloads == 0
    finally:
        stopped = stop_background(state_dir)
    assert stopped


@pytest.mark.parametrize("form", ["pid-only", "with-identity"])
def test_pid_file_naming_another_process_is_never_signalled(
    tmp_path: Path, other_process: subprocess.Popen[bytes], form: str
) -> None:
    """A lab that died without cleaning up (SIGKILL, a reboot) left its pid file; the pid
    now belongs to something else."""
    if not Path(f"/proc/{other_process.pid}/cmdline").exists():
        need("needs /proc to tell a reused pid from the lab's daemon")
    state_dir = tmp_path / "lab"
    state_dir.mkdir()
    text = f"{other_process.pid}\n"
    if form == "with-identity":
        st = state_dir.stat()
        ident = {
            "lab_id": "0" * 32,
            "state_dir": str(state_dir),
            "dev": st.st_dev,
            "ino": st.st_ino,
        }
        text += json.dumps(ident) + "\n"
    (state_dir / PID_FILE).write_text(text)
    (state_dir / STATE_FILE).write_text(json.dumps({"pid": other_process.pid, "running": True}))

    state = read_state(state_dir)
    assert state is not None
    assert not state.alive
    assert state.foreign is not None
    assert "reused" in state.foreign
    (state_dir / PID_FILE).write_text(text)
    assert stop_background(state_dir, timeout=1.0) is False
    assert other_process.poll() is None  # still running: never signalled
    assert not (state_dir / PID_FILE).exists()
