"""Issue 8, item 14: a lab belongs to its home. ``cp -a`` of a home with a running lab copies
the lab's state files too; ``lab down|status|reload`` on the copy must not touch the
original's daemon: the copy has no lab (its stale state is cleaned) and may start its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ccapki.lab.daemon import PID_FILE, STATE_FILE, read_state, stop_background
from kit.cli import Cli, error_with_hint, ok
from kit.lab import LabFactory
from kit.pgmode import BACKEND, store_url


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_lab_down_on_a_copied_home_leaves_the_original_running(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    original = read_state(lab.state_dir)
    assert original is not None
    assert original.alive
    assert original.pid is not None
    pid = original.pid

    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(lab.home), str(copy)], check=True, timeout=30)
    assert (copy / "lab" / PID_FILE).exists()  # the copy carries the original's lab state
    # on PostgreSQL the folder holds no rows: the copy names the original's database, as a
    # copied home keeps its CCAPKI_DATABASE_URL (on SQLite the copy holds its own file)
    same_db = {"CCAPKI_DATABASE_URL": store_url(lab.home)} if BACKEND == "postgresql" else {}

    try:
        # status and reload on the copy: no lab runs for it
        status = error_with_hint(cli("lab", "status", home_dir=copy, env=same_db))
        assert "no lab runs" in status.err
        assert str(copy) in status.err
        reload = error_with_hint(cli("lab", "reload", home_dir=copy, env=same_db))
        assert "no lab runs" in reload.err
        assert read_state(lab.state_dir).reloads == 0  # type: ignore[union-attr]

        down = ok(cli("lab", "down", home_dir=copy, env=same_db))
        assert "no lab was running" in down.out
        assert "lab stopped" not in down.out
        # the original's daemon is untouched and still serves
        assert _running(pid)
        assert lab.status(cli)["running"] is True
        again = read_state(lab.state_dir)
        assert again is not None
        assert again.alive
        assert again.pid == pid
        # the copy's stale state is gone
        assert not (copy / "lab" / PID_FILE).exists()
        assert not (copy / "lab" / STATE_FILE).exists()

        # the copy can run a lab of its own; stopping it leaves the original running
        ok(cli("lab", "up", "--interval", "1", home_dir=copy, env=same_db))
        own = read_state(copy / "lab")
        assert own is not None
        assert own.alive
        assert own.pid != pid
        assert "lab stopped" in ok(cli("lab", "down", home_dir=copy, env=same_db)).out
        assert not _running(own.pid)  # type: ignore[arg-type]
        assert _running(pid)
        assert read_state(lab.state_dir).alive  # type: ignore[union-attr]
    finally:
        stop_background(copy / "lab", timeout=5.0)
    # and the original's own `lab down` still stops it
    assert "lab stopped" in ok(cli("lab", "down", home_dir=lab.home)).out
    assert not _running(pid)
