"""Walkthrough item 10: a late Ctrl-C never turns a finished command into a silent 130.

Each test runs the real ``ccapki`` entry point (``ccapki.cli.main()``, as the console script
does) in a subprocess and delivers a real SIGINT to it at one exact moment, from inside the
process, so the outcome does not depend on timing:

- after the command's work is committed and reported (``created store ...`` printed), before
  the command returns: the work is done, so the command exits 0 as it would have;
- after the command returned, while the process exits: ignored (exit 0, nothing else said);
- while the CLI is still being imported: exit 130 with the ``error:`` and ``hint:`` lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import deployment, write
from kit.pgmode import BACKEND, has_store

#: Runs ``ccapki ARGS`` as the console script does, with ``HOOK`` run first (it arranges the
#: SIGINT). The exit code and output are the real process's.
DRIVER = """
import os, signal, sys
HOOK
sys.argv = ["ccapki", *sys.argv[1:]]
from ccapki.cli import main
main()
"""

#: SIGINT right after the command reports its (committed) work, before it returns.
AFTER_REPORT = """
import click
_echo = click.echo
def _echo_then_sigint(message=None, *args, **kwargs):
    _echo(message, *args, **kwargs)
    if str(message).startswith(("created store", "issued ")):
        os.kill(os.getpid(), signal.SIGINT)
click.echo = _echo_then_sigint
"""

#: SIGINT right after the command returned to the entry point, before the process exits.
AFTER_RETURN = """
import ccapki.cli.app as _app
_run = _app.run
def _run_then_sigint(*args, **kwargs):
    code = _run(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)
    return code
_app.run = _run_then_sigint
"""

#: SIGINT while the CLI's modules are being imported (before any command runs).
WHILE_IMPORTING = """
import importlib.abc
class _SigintOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ccapki.cli.app":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, _SigintOnImport())
"""


def _ccapki(hook: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_NOW")}
    return subprocess.run(
        [sys.executable, "-c", DRIVER.replace("HOOK", hook), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _store_made(home: Path) -> bool:
    return has_store(home)  # the SQLite file, or home's schema on PostgreSQL


@pytest.mark.parametrize("hook", [AFTER_REPORT, AFTER_RETURN], ids=["after-report", "after-return"])
def test_sigint_after_init_committed_keeps_success(home: Path, hook: str) -> None:
    p = _ccapki(hook, "--home", str(home), "init", "--key-file")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    where = str(home)  # on PostgreSQL the database (its URL without the password)
    if BACKEND == "postgresql":
        from sqlalchemy.engine import make_url

        where = make_url(os.environ["CCAPKI_DATABASE_URL"]).render_as_string(hide_password=True)
    assert p.stdout.startswith(f"created store {where}"), p.stdout
    assert p.stderr == "", p.stderr
    assert _store_made(home)


def test_sigint_after_apply_committed_keeps_success(home: Path, tmp_path: Path) -> None:
    dep = write(
        tmp_path / "d.toml",
        deployment(cas=['name = "cas1"\nhostname = "c.example.org"\nip = "10.1.0.1"\n']),
    )
    assert _ccapki("", "--home", str(home), "init", "--key-file").returncode == 0
    p = _ccapki(AFTER_REPORT, "--home", str(home), "apply", str(dep))
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "issued cam v1" in p.stdout, p.stdout
    assert "issued cas1 v1" in p.stdout, p.stdout
    assert p.stderr == "", p.stderr
    again = _ccapki("", "--home", str(home), "apply", str(dep))
    assert "nothing to do" in again.stdout, again.stdout + again.stderr


def test_sigint_while_starting_says_error_and_hint(home: Path) -> None:
    p = _ccapki(WHILE_IMPORTING, "--home", str(home), "init", "--key-file")
    assert p.returncode == 130, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert lines[0] == "error: interrupted (SIGINT)", p.stderr
    assert lines[1].startswith("hint: nothing was done"), p.stderr
    assert len(lines) == 2, p.stderr
    assert p.stdout == ""
    assert not _store_made(home)


#: SIGINT while ``init`` loads the database driver (its slowest step before writing).
WHILE_LOADING_DRIVER = """
import importlib.abc
class _SigintOnDriver(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sqlalchemy.dialects.sqlite":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, _SigintOnDriver())
"""


def test_sigint_while_init_starts_leaves_no_half_store(home: Path) -> None:
    """Interrupted before its database exists, ``init`` leaves nothing behind: no empty
    ``ccapki.db`` (item 13's file) and no ``data.key`` without its database."""
    dialect = "postgresql" if BACKEND == "postgresql" else "sqlite"  # the store's driver
    hook = WHILE_LOADING_DRIVER.replace(
        "sqlalchemy.dialects.sqlite", f"sqlalchemy.dialects.{dialect}"
    )
    p = _ccapki(hook, "--home", str(home), "init", "--key-file")
    assert p.returncode == 130, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.startswith("error: interrupted (SIGINT)\nhint: "), p.stderr
    assert "Traceback" not in p.stderr
    assert not home.exists() or list(home.iterdir()) == []
    again = _ccapki("", "--home", str(home), "init", "--key-file")
    assert again.returncode == 0, again.stderr


#: SIGTERM handled inside a weakref callback (as happens inside an import's module lock),
#: where Python prints an exception ("Exception ignored in ...") instead of raising it.
IN_A_CALLBACK = """
import time, weakref
import rich.console
_print = rich.console.Console.print
class _Thing:
    pass
def _callback(_ref):
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(10000):  # the handler runs here, inside the callback
        pass
def _print_after_a_callback(self, *args, **kwargs):
    rich.console.Console.print = _print  # once
    thing = _Thing()
    ref = weakref.ref(thing, _callback)
    del thing  # the callback runs now
    for _ in range(1000):  # the command goes on working (up to 10 s)
        time.sleep(0.01)
    _print(self, *args, **kwargs)
rich.console.Console.print = _print_after_a_callback
"""


def test_a_signal_swallowed_by_a_callback_still_interrupts(tmp_path: Path) -> None:
    """Before: ``Exception ignored in: <function ...cb>`` and a traceback on standard
    error, then the command went on to exit 0 as if never interrupted."""
    dep = write(tmp_path / "d.toml", deployment())
    p = _ccapki(IN_A_CALLBACK, "plan", str(dep))
    assert p.returncode == 143, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    assert "Exception ignored" not in p.stderr, p.stderr
    assert p.stderr.startswith("error: interrupted (SIGTERM)\nhint: "), p.stderr
