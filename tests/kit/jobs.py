"""The jobs kit: big deployment files, a clock tests move, a fresh PostgreSQL schema per
test, and waiting for a condition (never a timed assertion: a deadline only ends a wait
that would otherwise hang)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import create_engine, text

from kit.certs import NOW
from kit.tools import require_pg_url

if TYPE_CHECKING:
    from ccapki.store import Store
    from ccapki.store.records import JobRecord

__all__ = ["Clock", "bulk_deployment", "cancelled_apply", "pg_schema", "slow_keys", "wait_for"]

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


def slow_keys(text: str) -> str:
    """``text`` (a bulk deployment file) with RSA keys: seconds of work, one key at a time."""
    return text.replace('source = "internal"\n', 'source = "internal"\nkey = "rsa-2048"\n', 1)


def cancelled_apply(store: Store, text: str) -> tuple[int, JobRecord]:
    """An apply job of ``text`` run by one runner and cancelled once it reports its first
    identity: that first progress count, and the job as it ended."""
    from ccapki.service.jobs import JobRunner, submit

    job = submit(store, "apply", {"text": text}, deployment=None, user="op")
    runner = JobRunner(store, "one", lease=dt.timedelta(seconds=0.6), poll=0.05)
    runner.start()
    try:
        first = wait_for(lambda: store.jobs.get(job.id).progress.get("done"), "the first identity")
        store.jobs.cancel(job.id)
        ended = wait_for(
            lambda: (j := store.jobs.get(job.id)).state.finished and j, "the cancelled job"
        )
    finally:
        runner.stop()
    assert isinstance(first, int)
    return first, ended
