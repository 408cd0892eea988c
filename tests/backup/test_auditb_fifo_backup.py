"""Audit B (bad input of every kind): `ccapki backup verify FIFO` and `backup restore FIFO`,
a named pipe nobody writes to, blocked for ever in ``open()`` (every other input file is
read without blocking since the FIFO walkthrough). A backup is streamed, not read whole, so
it is now opened without blocking and waited for at most ``ccapki.fsutil.INPUT_WAIT``
seconds, then one ``error:`` line, a ``hint:``, exit 2 (a pipe with a writer is read)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccapki import fsutil
from kit.cli import Cli, error_with_hint
from kit.tools import fifo_rescued


@pytest.mark.parametrize("command", [("backup", "verify"), ("backup", "restore")])
def test_a_fifo_nobody_writes_to_is_refused_not_waited_for_for_ever(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple
) -> None:
    monkeypatch.setattr(fsutil, "INPUT_WAIT", 0.2)
    fifo = tmp_path / "backup.ccapki"
    os.mkfifo(fifo)
    with fifo_rescued(fifo):
        r = error_with_hint(cli(*command, fifo, env={"CCAPKI_BACKUP_PASSPHRASE": "x" * 12}))
    assert r.err.startswith(f"error: {fifo}: is a FIFO (named pipe) and nothing was written"), r.err
    assert len(r.err.splitlines()) == 2, r.err
