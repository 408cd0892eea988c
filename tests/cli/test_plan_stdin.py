"""Walkthrough: `ccapki plan -` said "-: no such file". `plan` only reads, so `-` is the
deployment from standard input, named ``<stdin>`` in messages; it never blocks for ever (a
terminal, a silent pipe, endless input: error + hint). `apply -` (and every command that
records the deployment file's path with what it stores) refuses it with error + hint: save
it to a file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import ccapki.fsutil
from kit.cli import FAQ, Cli, db_bytes, error_with_hint, ok, write
from kit.terminal import read_terminal
from kit.tools import need


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env["CCAPKI_NOW"] = os.environ["CCAPKI_NOW"]  # the tests' fixed clock
    env["COLUMNS"] = "200"
    return env


def test_plan_reads_a_pipe_as_the_file(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "no-store"
    want = ok(cli("plan", FAQ, "--json", home_dir=home)).json()
    run = subprocess.run(
        [sys.executable, "-m", "ccapki", "--home", str(home), "plan", "-", "--json"],
        input=FAQ.read_bytes(),
        capture_output=True,
        env=_env(home),
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    assert json.loads(run.stdout) == want


@pytest.fixture
def stdin_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``stdin_from(file object)``: standard input for the in-process runs that follow."""
    opened: list[IO[str]] = []

    def use(f: IO[str]) -> None:
        opened.append(f)
        monkeypatch.setattr(sys, "stdin", f)

    yield use
    for f in opened:
        f.close()


def test_plan_reads_a_redirected_file_with_the_stores_pending_actions(
    cli: Cli, keyfile_store: Path, stdin_from: object
) -> None:
    assert callable(stdin_from)
    ok(cli("apply", FAQ))
    want = ok(cli("plan", FAQ, "--json")).json()
    stdin_from(FAQ.open(encoding="utf-8"))
    got = ok(cli("plan", "-", "--json")).json()
    assert got == want
    assert "pending_actions" in got
    stdin_from(FAQ.open(encoding="utf-8"))
    text = ok(cli("plan", "-"))
    assert "6 certificates needed" in text.out


def test_a_broken_deployment_on_stdin_is_named_stdin(
    cli: Cli, tmp_path: Path, stdin_from: object
) -> None:
    assert callable(stdin_from)
    broken = FAQ.read_text(encoding="utf-8").replace('release = "4.8.0"', 'release = "nine"', 1)
    assert broken != FAQ.read_text(encoding="utf-8")
    stdin_from(write(tmp_path / "broken.toml", broken).open(encoding="utf-8"))
    r = error_with_hint(cli("plan", "-"))
    assert r.err.startswith("error: <stdin>:"), r.err
    stdin_from(write(tmp_path / "latin1.toml", b"# caf\xe9\n").open(encoding="utf-8"))
    r = error_with_hint(cli("plan", "-"))
    assert r.err.startswith("error: <stdin>:1: is not UTF-8"), r.err


@pytest.mark.parametrize(
    "args", [("apply", "-"), ("apply", "-", "--dry-run"), ("ca", "create", "-")]
)
def test_commands_that_record_the_file_refuse_dash(
    cli: Cli, keyfile_store: Path, tmp_path: Path, stdin_from: object, args: tuple[str, ...]
) -> None:
    assert callable(stdin_from)
    before = db_bytes(keyfile_store)
    stdin_from(FAQ.open(encoding="utf-8"))
    r = error_with_hint(cli(*args))
    assert "save it to a file" in r.err
    assert "nothing was read" in r.err
    assert sys.stdin.read() == FAQ.read_text(encoding="utf-8"), "stdin was consumed"
    assert db_bytes(keyfile_store) == before


def test_a_silent_pipe_is_refused_after_the_wait(
    cli: Cli, tmp_path: Path, stdin_from: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(stdin_from)
    monkeypatch.setattr(ccapki.fsutil, "INPUT_WAIT", 0.3)
    read_end, write_end = os.pipe()  # a writer that never writes
    try:
        stdin_from(os.fdopen(read_end, encoding="utf-8"))
        r = error_with_hint(cli("plan", "-"))
        assert "nothing arrived for 0.3 s" in r.err
    finally:
        os.close(write_end)


def test_endless_input_is_refused(cli: Cli, stdin_from: object) -> None:
    assert callable(stdin_from)
    if not Path("/dev/zero").exists():
        need("no /dev/zero")
    stdin_from(open("/dev/zero", encoding="latin-1"))  # noqa: SIM115 - closed by the fixture
    r = error_with_hint(cli("plan", "-"))
    assert "far too large" in r.err


def test_no_standard_input_is_error_and_hint(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    r = error_with_hint(cli("plan", "-"))
    assert "no standard input" in r.err


pty = pytest.importorskip("pty")


def test_a_terminal_is_not_waited_on(tmp_path: Path) -> None:
    home = tmp_path / "no-store"
    pid, fd = pty.fork()
    if pid == 0:  # the child: `ccapki plan -` typed in a terminal
        os.execve(
            sys.executable,
            [sys.executable, "-m", "ccapki", "--home", str(home), "plan", "-"],
            _env(home),
        )
    shown = b""
    try:
        shown = read_terminal(fd)
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        settle = time.monotonic() + 10  # the terminal closes just before the exit
        while done == 0 and time.monotonic() < settle:
            time.sleep(0.05)
            done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still waiting on the terminal: stop it
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = shown.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 2, text
    assert "error: `ccapki plan -` reads the deployment from standard input" in text
    assert "hint: pipe the deployment in" in text
