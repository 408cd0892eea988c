"""`ccapki --home /proc init`: a folder that looks writable (root may write /proc) but takes
no file was an internal error (exit 70, FileNotFoundError); it is bad input, said as such,
and nothing is left behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kit.cli import Cli, error_with_hint


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
def test_init_in_proc_is_refused_cleanly(cli: Cli) -> None:
    before = set(Path("/proc").iterdir())
    r = error_with_hint(cli("init", "--key-file", home_dir=Path("/proc")))
    assert "cannot make a store in /proc" in r.err
    assert "nothing was written" in r.err
    assert "ordinary file system" in r.err
    assert not {p for p in set(Path("/proc").iterdir()) - before if not p.name.isdigit()}
