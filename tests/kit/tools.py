"""External programs for integration tests: skip without them, but never under CI.

CI (``CI`` set, see ``.ci/run``) installs every program the tests use; a missing one there
is a failure, so an integration test can never pass by skipping in CI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def need(reason: str) -> None:
    """A test cannot run here: skip on a developer's machine, fail under CI (``CI`` set),
    where every program, service and device the tests use is provided (see .ci/run)."""
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of an external program; skip without it, unless CI is set (then fail)."""
    path = shutil.which(name)
    if path:
        return path
    need(f"{name} is not installed")
    raise AssertionError("unreachable")


def require_pg_url() -> str:
    """``CCAPKI_TEST_PG_URL``, the PostgreSQL the tests may use (CI always provides one)."""
    url = os.environ.get("CCAPKI_TEST_PG_URL")
    if not url:
        need("no PostgreSQL: set CCAPKI_TEST_PG_URL to run these tests")
    return str(url)


def clean_pg_url() -> str:
    """:func:`require_pg_url`, its database emptied first (the ``public`` schema dropped and
    made again): a store made on it starts from nothing."""
    from sqlalchemy import create_engine, text

    url = require_pg_url()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def openssl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``openssl`` command (no stdin); skip/fail as :func:`require_tool` says."""
    exe = require_tool("openssl")
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def epoch(when: dt.datetime) -> str:
    """``when`` as Unix seconds (``openssl verify -attime``)."""
    return str(int(when.timestamp()))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def openssl_s_server(bundle: Path) -> Iterator[int]:
    """The real ``openssl s_server`` serving a one-file bundle (cert, chain, key) on
    127.0.0.1; yields its port once it accepts connections, and kills it afterwards."""
    exe = require_tool("openssl")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(bundle),
            "-key",
            str(bundle),
            "-cert_chain",
            str(bundle),
            "-quiet",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"s_server exited: {err}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("s_server did not start within 10 s")
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


#: How long :func:`fifo_rescued` waits before writing to the FIFO: code that blocks in
#: ``open()`` on it (the old code of a FIFO test) then fails instead of hanging for ever
FIFO_RESCUE_AFTER = 20.0


@contextlib.contextmanager
def fifo_rescued(fifo: Path) -> Iterator[None]:
    """Within the block, a FIFO nobody writes to gets a writer (opened and closed at once)
    after :data:`FIFO_RESCUE_AFTER` seconds if the block has not ended: a command that
    waits on it for ever is released, so its test fails rather than hangs."""
    done = threading.Event()

    def rescue() -> None:
        if done.wait(FIFO_RESCUE_AFTER):
            return
        with contextlib.suppress(OSError):  # no reader (the fixed code gave up): ENXIO
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    t = threading.Thread(target=rescue, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()
