"""The ``ccapki`` process ends with :func:`ccapki.cli.finish`: the exit handlers run, the
streams are flushed, and the interpreter's teardown of every module is skipped (~0.05 s a
command once SQLAlchemy is loaded; the benchmarks measure it). Nothing may be lost by it:
what was written, what exit handlers do, what threads still do, what the store commits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ

CCAPKI = Path(sys.executable).parent / "ccapki"


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_exit_handlers_run_and_buffered_output_is_written(tmp_path: Path) -> None:
    r = _python(
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stdout.write('exit handler ran\\n'))\n"
        "from ccapki.cli import finish\n"
        "sys.stdout.write('buffered, not flushed\\n')\n"
        "sys.stderr.write('said on stderr\\n')\n"
        "finish(3)\n",
        tmp_path,
    )
    assert r.returncode == 3
    assert r.stdout == "buffered, not flushed\nexit handler ran\n"
    assert r.stderr == "said on stderr\n"


def test_a_thread_still_at_work_is_waited_for(tmp_path: Path) -> None:
    done = tmp_path / "done"
    r = _python(
        "import threading, time\n"
        "from pathlib import Path\n"
        "from ccapki.cli import finish\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        f"    Path({str(done)!r}).write_text('written')\n"
        "threading.Thread(target=work).start()\n"
        "finish(0)\n",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert done.read_text() == "written"  # the process waited, as Python's exit does


@pytest.mark.sqlite_only  # SQLite's write-ahead log; a store of its own (no URL)
def test_a_store_command_leaves_its_work_committed_and_the_database_closed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env["CCAPKI_HOME"] = str(home)

    def ccapki(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CCAPKI), *args], capture_output=True, text=True, env=env, timeout=120
        )

    assert ccapki("init", "--key-file").returncode == 0
    applied = ccapki("apply", str(FAQ))
    assert applied.returncode == 0, applied.stderr
    assert "Traceback" not in applied.stderr
    # the last connection closed as the command ended: SQLite checkpointed its log
    assert not (home / "ccapki.db-wal").exists()
    with sqlite3.connect(home / "ccapki.db") as db:
        (count,) = db.execute("SELECT count(*) FROM certificates").fetchone()
    assert count > 0
    listed = ccapki("keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip()
