"""Walkthrough: an input file that is a named pipe (FIFO) nobody writes to made ``ccapki
import FIFO`` and ``ccapki plan FIFO`` block for ever in ``open()``. A FIFO, pipe or device
is now read without blocking for ever: each piece is waited for at most
``ccapki.fsutil.INPUT_WAIT`` seconds, then one ``error:`` line, a ``hint:``, exit 2. A FIFO
with a writer is read as before, and a socket is refused up front."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok
from kit.tools import fifo_rescued


@pytest.fixture
def fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import ccapki.fsutil

    monkeypatch.setattr(ccapki.fsutil, "INPUT_WAIT", 0.3, raising=False)
    path = tmp_path / "input.fifo"
    os.mkfifo(path)
    return path


def test_a_fifo_without_writer_is_an_error_not_a_hang(
    cli: Cli, keyfile_store: Path, fifo: Path
) -> None:
    ok(cli("apply", FAQ))
    for args in (("import", str(fifo)), ("plan", str(fifo)), ("inspect", str(fifo))):
        with fifo_rescued(fifo):
            r = error_with_hint(cli(*args))
        assert f"{fifo}: is a FIFO (named pipe) and nothing was written to it" in r.err, r.both
        assert f"`cat FILE > {fifo}`" in r.err, r.both


def test_a_fifo_with_a_writer_is_read(
    cli: Cli, fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ccapki.fsutil

    monkeypatch.setattr(ccapki.fsutil, "INPUT_WAIT", 60.0)
    data = FAQ.read_bytes()

    def writer() -> None:
        with fifo.open("wb") as fh:  # blocks until ccapki opens it for reading
            fh.write(data)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    r = ok(cli("plan", str(fifo)))
    t.join()
    assert r.out == ok(cli("plan", FAQ)).out.replace(str(FAQ), str(fifo))


def test_a_socket_is_refused(cli: Cli, tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        r = error_with_hint(cli("plan", str(path)))
    assert f"{path}: is a socket, not a file" in r.err, r.both
