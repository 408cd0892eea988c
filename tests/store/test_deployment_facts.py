"""Deployment facts (schema 0009): the store keeps, beside each applied deployment file,
the few values ``status``, ``apply`` and the CA scope read of it (JSON in
``deployments.facts``), so a large file is not parsed again by every command. A row kept
before 0009 (no facts) is read from its text as before, and gets its facts when the same
file is applied again. On SQLite and on PostgreSQL (``make test-pg``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

import ccapki.store
from ccapki.lifecycle.apply import apply_plan
from ccapki.lifecycle.status import estate_status, read_settings, settings_json, settings_of
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.topology.loader import parse_deployment
from kit.cli import FAQ, deployment, ha_pair, standalone
from kit.jobs import pg_schema
from kit.migrations import alembic_to
from kit.pgmode import store_url

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)

SHARED = deployment(
    name="shared-one",
    cam=ha_pair("cam", "10.0.0"),
    cas=[standalone("cas-a", "10.6.0.1")],
).replace("[deployment]\n", '[deployment]\nca = "shared"\n', 1)


def _facts_rows(s: Store) -> list[tuple[str, str | None]]:
    d = t.deployments.c
    with s.connection() as c:
        return [(r.name, r.facts) for r in c.execute(select(d.name, d.facts).order_by(d.id))]


def _set(s: Store, **values: object) -> None:
    with s.transaction() as c:
        c.execute(update(t.deployments).values(**values))


def test_apply_keeps_the_files_facts_and_they_say_what_the_file_says(store: Store) -> None:
    for source in (FAQ.read_text(), SHARED):
        dep = parse_deployment(source, "<test>")
        apply_plan(store, dep, now=NOW)
        name, facts = _facts_rows(store)[-1]
        assert name == dep.name
        assert facts == settings_json(dep)
        kept = json.loads(facts)
        assert kept["name"] == dep.name
        assert kept["shared_ca"] is dep.shared_ca
        # read back, the facts give exactly what parsing the text gives
        assert read_settings("not toml at all [", facts=facts) == settings_of(dep)


def test_status_reads_the_facts_not_the_text(store: Store) -> None:
    dep = parse_deployment(FAQ.read_text(), str(FAQ))
    apply_plan(store, dep, now=NOW)
    before = estate_status(store, now=NOW)
    # the text no longer parses: only the facts can give status its settings
    _set(store, source_text="[deployment\nthis is not TOML")
    assert estate_status(store, now=NOW) == before


def test_a_file_kept_without_facts_is_read_from_its_text_then_given_its_facts(
    store: Store,
) -> None:
    dep = parse_deployment(FAQ.read_text(), str(FAQ))
    apply_plan(store, dep, now=NOW)
    with_facts = estate_status(store, now=NOW)
    _set(store, facts=None)  # as a row kept before schema 0009
    ccapki.lifecycle.status._SETTINGS.clear()
    assert estate_status(store, now=NOW) == with_facts
    # applying the same file again is not a new version; it gives the row its facts
    assert store.deployments.record(dep.name, dep.source_text, None, settings_json(dep)) is False
    assert _facts_rows(store) == [(dep.name, settings_json(dep))]


@pytest.mark.parametrize(
    "facts",
    ['{"v": 99, "name": "x"}', "[1, 2]", "{not json", '{"v": 1, "warn_days": "x"}'],
    ids=["another-version", "not-an-object", "not-json", "wrong-types"],
)
def test_facts_that_cannot_be_read_fall_back_to_the_text(store: Store, facts: str) -> None:
    apply_plan(store, parse_deployment(SHARED, "<test>"), now=NOW)
    _set(store, facts=facts)
    store.deployments._shares.clear()
    assert store.deployments.shares_cas() is True  # from `ca = "shared"` in the text
    kept = store.deployments.latest()
    assert kept is not None
    assert read_settings(kept.text, facts=kept.facts).shared_ca is True


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_adds_and_removes_the_column_keeping_the_files(
    tmp_path: Path, backend: str
) -> None:
    def run(url: str | None) -> None:
        home = tmp_path / "store"
        s = Store.init(home, key_file=True, clock=lambda: NOW, url=url)
        try:
            apply_plan(s, parse_deployment(FAQ.read_text(), str(FAQ)), now=NOW)
        finally:
            s.close()
        engine = create_engine(url or store_url(home))
        try:
            alembic_to(engine, "0008_pkcs11", up=False)
            with engine.connect() as c:
                cols = c.execute(select(text("*")).select_from(text("deployments"))).keys()
                assert "facts" not in cols
                assert c.execute(text("SELECT count(*) FROM deployments")).scalar_one() == 1
        finally:
            engine.dispose()
        # upgraded (`ccapki upgrade`), the store reads the file from its text: status is
        # as before
        s = Store.open(home, clock=lambda: NOW, url=url, upgrade=True)
        try:
            assert s.upgraded is not None
            assert s.upgraded.before == "0008_pkcs11"
            assert [facts for _, facts in _facts_rows(s)] == [None]
            assert estate_status(s, now=NOW).items
        finally:
            s.close()

    if backend == "sqlite":
        run(None)
    else:
        with pg_schema() as pg:
            run(pg)
