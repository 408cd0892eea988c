"""The jobs kit: big deployment files, a clock tests move, a fresh PostgreSQL schema per
test, and waiting for a condition (never a timed assertion: a deadline only ends a wait
that would otherwise hang)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import create_engine, text

from kit.certs import NOW
from kit.tools import require_pg_url

__all__ = ["Clock", "bulk_deployment", "pg_schema", "wait_for"]

T = TypeVar("T")


def bulk_deployment(n: int, name: str = "bulk", *, third_party: int = 0) -> str:
    """A deployment file of one CAM and ``n`` standalone CAS ``cas0``... (internal CA), and
    ``third_party`` standalone CAS ``tp0``... whose certificates a third party signs."""
    lines = [
        "[deployment]",
        f'name = "{name}"',
        'release = "4.9.1"',
        'organization = "Bulk Org"',
        'source = "internal"',
        "",
        "[cam]",
        'name = "cam"',
        f'hostname = "cam.{name}.example"',
        'ip = "10.255.255.1"',
    ]
    for i in range(n):
        lines += [
            "[[cas]]",
            f'name = "cas{i}"',
            f'hostname = "cas{i}.{name}.example"',
            f'ip = "10.{i // 250 % 250}.{i // 62500 % 250}.{i % 250 + 1}"',
        ]
    for i in range(third_party):
        lines += [
            "[[cas]]",
            f'name = "tp{i}"',
            f'hostname = "tp{i}.{name}.example"',
            f'ip = "10.254.{i // 250}.{i % 250 + 1}"',
            'source = "third-party"',
        ]
    return "\n".join(lines) + "\n"


class Clock:
    """A clock a test moves (``clock.now += ...``); starts at the fixed ``NOW``."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema of ``CCAPKI_TEST_PG_URL`` (skip, or fail under CI,
    without one): the URL whose connections use it (``search_path``), dropped afterwards.
    Tests on one database at once never see each other's tables."""
    base = require_pg_url()
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        engine.dispose()


def wait_for(check: Callable[[], T | None], what: str, deadline: float = 120.0) -> T:
    """Poll ``check`` until it returns something truthy (returned); fail after
    ``deadline`` seconds (a hang guard, not a speed check)."""
    end = time.monotonic() + deadline
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)
