"""A cancelled apply job's final progress says what stays: ``done`` is the number of
identities kept (walkthrough: ``progress {"done": 13}`` beside "11 of 43 identities were
kept"; a cancel that kept none still said ``done`` >= 1)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.service.jobs import JobRunner, submit
from ccapki.store import Store
from ccapki.store.records import JobState
from kit.jobs import Clock, bulk_deployment, pg_schema, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    schema: contextlib.AbstractContextManager[str | None] = (
        pg_schema() if request.param == "postgresql" else contextlib.nullcontext()
    )
    with (
        schema as url,
        Store.init(tmp_path / "store", url=url, key_file=True, clock=Clock()) as s,
    ):
        yield s


def test_a_cancelled_apply_ends_with_done_equal_to_what_was_kept(store: Store) -> None:
    text = bulk_deployment(60, "big").replace(
        'source = "internal"\n', 'source = "internal"\nkey = "rsa-2048"\n', 1
    )
    job = submit(store, "apply", {"text": text}, deployment=None, user="op")
    runner = JobRunner(store, "one", lease=dt.timedelta(seconds=0.6), poll=0.05)
    runner.start()
    try:
        wait_for(lambda: store.jobs.get(job.id).progress.get("done"), "the first identity")
        store.jobs.cancel(job.id)
        ended = wait_for(
            lambda: (j := store.jobs.get(job.id)).state.finished and j, "the cancelled job"
        )
    finally:
        runner.stop()
    assert ended.state is JobState.CANCELLED
    assert isinstance(ended.result, dict)
    kept = len(ended.result["kept"])
    assert ended.progress == {"done": kept, "total": 61}
    assert f"{kept} of 61 identities were kept" in (ended.error or "")
