"""Walkthrough: Ctrl-C at a hidden prompt (the store's new passphrase, a PKCS#12 password)
in a real terminal. A hidden prompt leaves the cursor on its line (no echo, no newline), so
the report came out as ``New store passphrase: error: interrupted (SIGINT)``: the ``error:``
line must start a line of its own, then the hint; exit 130, no traceback, nothing written.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, ok
from kit.pgmode import BACKEND, has_store, store_url
from kit.terminal import read_terminal

pty = pytest.importorskip("pty")


def _interrupt_at_prompt(args: list[str], prompt: bytes, env: dict[str, str]) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: ccapki on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "ccapki", *args], env)
    try:
        shown = read_terminal(fd, prompt)
        assert prompt in shown, shown
        time.sleep(0.2)  # let the prompt turn the echo off and wait for input
        os.killpg(os.getpgid(pid), signal.SIGINT)  # as the terminal sends Ctrl-C
        shown += read_terminal(fd, None)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def _env(home: Path) -> dict[str, str]:
    """The environment of a ccapki on ``home``'s store (its schema on PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    if BACKEND == "postgresql":
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    return env


def _lines(shown: str) -> list[str]:
    return [line.strip("\r") for line in shown.replace("\r\n", "\n").split("\n")]


def test_ctrl_c_at_the_new_passphrase_prompt(tmp_path: Path) -> None:
    home = tmp_path / "store"
    code, shown = _interrupt_at_prompt(
        ["--home", str(home), "init"], b"New store passphrase", _env(home)
    )
    assert code == 130, shown
    assert "Traceback" not in shown, shown
    lines = _lines(shown)
    assert any(line.startswith("error: interrupted (SIGINT)") for line in lines), shown
    assert any(line.startswith("hint: ") for line in lines), shown
    assert not has_store(home)


def test_ctrl_c_at_the_pkcs12_password_prompt(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "cas-dorm.p12"
    code, shown = _interrupt_at_prompt(
        [
            "--home",
            str(keyfile_store),
            "export",
            "cas-dorm",
            "--format",
            "pkcs12",
            "--out",
            str(out),
        ],
        b"PKCS#12 password",
        _env(keyfile_store),
    )
    assert code == 130, shown
    assert "Traceback" not in shown, shown
    assert any(line.startswith("error: interrupted (SIGINT)") for line in _lines(shown)), shown
    assert not out.exists()
