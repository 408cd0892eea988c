"""A signal that lands while SQLAlchemy's pool resets a connection is logged by
SQLAlchemy ("Exception during reset or similar" with a traceback), and one that lands
inside a PostgreSQL pipeline by psycopg ("error ignored exiting <psycopg.Pipeline ...>:
cannot exit pipeline mode while busy"), through logging's last-resort handler on standard
error, before ccapki reports it: a command keeps those logs off standard error
(tests/lifecycle/test_apply_killed.py and tests/lifecycle/test_apply_signal_pg.py caught
them). Run in a process of its own: pytest's logging capture would hide the last-resort
handler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import logging, signal, sys
from ccapki.cli.app import run
from ccapki.errors import Interrupted
code = run(sys.argv[1:])
try:
    raise Interrupted(signal.SIGTERM)
except Interrupted:
    logging.getLogger("sqlalchemy.pool").error("Exception during reset or similar", exc_info=True)
logging.getLogger("psycopg").warning("error ignored exiting <psycopg.Pipeline>: busy")
sys.exit(code)
"""

SAID = ("Exception during reset or similar", "error ignored exiting <psycopg.Pipeline>")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the environment is kept: on PostgreSQL it carries the home's CCAPKI_DATABASE_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_NOW")}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("said", SAID)
def test_a_command_keeps_the_libraries_logs_off_standard_error(
    keyfile_store: Path, said: str
) -> None:
    r = _run(keyfile_store, "keys", "list")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert said not in r.stderr


@pytest.mark.parametrize("said", SAID)
def test_the_service_keeps_the_libraries_logs(keyfile_store: Path, said: str) -> None:
    # `serve --help` goes through the same run(): the long-running commands keep the logs
    r = _run(keyfile_store, "serve", "--help")
    assert r.returncode == 0, r.stderr
    assert said in r.stderr
