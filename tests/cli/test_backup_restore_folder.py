"""Walkthrough: ``ccapki backup restore DIR`` (a folder, not a backup file) asked for the
backup passphrase first and only then said the path was a folder. The path is checked
first now (error + a hint naming the backups in the folder), and nobody is asked."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok
from kit.pgmode import BACKEND, store_url
from kit.terminal import read_terminal

pty = pytest.importorskip("pty")

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}


@pytest.fixture
def backups(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> Path:
    """A folder holding one backup of the FAQ store (and a file that is not one)."""
    ok(cli("apply", FAQ))
    folder = tmp_path / "backups"
    folder.mkdir()
    ok(cli("backup", "create", "--out", folder / "nightly.backup", env=PASS))
    (folder / "notes.txt").write_text("not a backup\n")
    return folder


@pytest.mark.parametrize("command", ["restore", "verify"])
def test_a_folder_is_refused_before_the_passphrase_is_needed(
    cli: CliRunner, backups: Path, command: str
) -> None:
    # no passphrase anywhere: the folder is what is wrong, and is said first
    r = error_with_hint(cli("backup", command, backups, env={"CCAPKI_BACKUP_PASSPHRASE": None}))
    assert r.err.splitlines() == [
        f"error: {backups}: is a folder, not a file",
        f"hint: name the backup file itself, e.g. {backups / 'nightly.backup'} (the backups "
        f"in it: {backups / 'nightly.backup'})",
    ], r.err


def test_a_folder_without_backups_says_how_to_make_one(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = error_with_hint(cli("backup", "restore", empty, env={"CCAPKI_BACKUP_PASSPHRASE": None}))
    assert "holds no ccapki backup; `ccapki backup create --out FILE` writes one" in r.err


def test_in_a_terminal_nobody_is_asked_for_a_folder(backups: Path, home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CCAPKI_BACKUP_PASSPHRASE"}
    if BACKEND == "postgresql":
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    args = ["--home", str(home), "backup", "restore", str(backups)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: ccapki on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "ccapki", *args], env)
    shown = ""
    try:
        shown = read_terminal(fd, b"hint: ", limit=30).decode(errors="replace")
        if "Backup passphrase" not in shown:
            shown += read_terminal(fd, None, limit=30).decode(errors="replace")
    finally:
        if "Backup passphrase" in shown or "hint: " not in shown:  # waiting at a prompt
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert "Backup passphrase" not in shown, shown
    assert f"error: {backups}: is a folder, not a file" in shown, shown
    assert os.waitstatus_to_exitcode(status) == 2, shown
