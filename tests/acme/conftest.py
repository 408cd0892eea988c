"""ACME tests: real pebble, pebble-challtestsrv and named processes on 127.0.0.1 (see
``servers.py``), the wall clock (pebble issues on it), key-file stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from acme_servers import Bind, ChallTestSrv, Pebble, hook_script


@pytest.fixture(autouse=True)
def _acme_env(wall_clock: None) -> None:
    """Pebble signs on the real clock: so does the store."""


@pytest.fixture
def challtestsrv(tmp_path: Path) -> Iterator[ChallTestSrv]:
    srv = ChallTestSrv(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def pebble(tmp_path: Path, challtestsrv: ChallTestSrv) -> Iterator[Pebble]:
    """Pebble validating DNS-01 against challtestsrv."""
    p = Pebble(tmp_path, f"127.0.0.1:{challtestsrv.dns_port}").start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def hook(tmp_path: Path, challtestsrv: ChallTestSrv, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hook script; it reaches challtestsrv through CHALLTESTSRV."""
    monkeypatch.setenv("CHALLTESTSRV", challtestsrv.management)
    return hook_script(tmp_path)


@pytest.fixture
def bind(tmp_path: Path) -> Iterator[Bind]:
    b = Bind(tmp_path).start()
    try:
        yield b
    finally:
        b.stop()
