"""A cancelled apply job's final progress says what stays: ``done`` is the number of
identities kept (walkthrough: ``progress {"done": 13}`` beside "11 of 43 identities were
kept"; a cancel that kept none still said ``done`` >= 1)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.store import Store
from ccapki.store.records import JobState
from kit.jobs import Clock, bulk_deployment, cancelled_apply, pg_schema, slow_keys


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
    _, ended = cancelled_apply(store, slow_keys(bulk_deployment(60, "big")))
    assert ended.state is JobState.CANCELLED
    assert isinstance(ended.result, dict)
    kept = len(ended.result["kept"])
    assert ended.progress == {"done": kept, "total": 61}
    assert f"{kept} of 61 identities were kept" in (ended.error or "")
