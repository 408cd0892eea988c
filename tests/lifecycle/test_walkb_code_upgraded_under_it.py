"""Walkthrough B (a year of operations): ccapki was upgraded (a new schema revision) while
a long-running ccapki of the old release ran (the lab daemon, ``watch``, ``serve``), then
``ccapki upgrade`` migrated the store. The running one, whose schema head is the old
revision but which reads the migration files from disk, said "the store's schema is
<new>, older than this ccapki's (<old>): ... upgrade it once with `ccapki upgrade`" (the
lab's ``reload failed`` said it too): backwards, and the hint sends the administrator to
an upgrade already done. A revision past this ccapki's own head is one a newer ccapki
made, whatever files lie beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki.store.session as store_session
from ccapki.errors import StoreError
from ccapki.store import Store, health, schema
from kit.cli import FAQ, Cli, ok


def test_a_store_upgraded_past_the_running_code_is_said_newer(
    cli: Cli, keyfile_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("apply", FAQ))  # a current store
    head = schema.SCHEMA_HEAD
    known = health.known_revisions()
    assert known[-1] == head
    older = known[-2]
    # the running code is the previous release: its head is the revision before
    monkeypatch.setattr(schema, "SCHEMA_HEAD", older)
    monkeypatch.setattr(store_session, "SCHEMA_HEAD", older)  # what Store.open compares
    assert health.known_revisions() == known[:-1]
    with pytest.raises(StoreError) as caught:
        Store.open(keyfile_store)
    said = f"{caught.value.message} {caught.value.hint}"
    assert f"the store's schema is {head}, newer than this ccapki knows ({older})" in said
    assert "older than" not in said
    assert "`ccapki upgrade`" not in said
