"""Walkthrough B (a year of operations): ``ccapki lab reload`` after a renewal, when the
lab cannot read the store (here: a newer ccapki upgraded the store while the lab of this one
ran). The lab logged "reload failed: ..." and kept its old certificates, but ``lab reload``
said "lab reloaded (1 reload so far)", exit 0; run again, it waited 30 s and said only "the
lab did not reload within 30 s" (the lab's state did not change, so nothing told it the
second attempt had failed too). Each attempt now answers with the lab's reason, exit 2, and
a reload that works afterwards says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write
from kit.pgmode import store_url


@pytest.fixture
def lab(cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None) -> Iterator[Path]:
    ok(cli("apply", write(tmp_path / "d.toml", deployment(cam=standalone("cam", "10.0.0.1")))))
    ok(cli("lab", "up", "--interval", "1"))
    try:
        yield keyfile_store
    finally:
        cli("lab", "down")


def _set_revision(home: Path, revision: str) -> str:
    engine = create_engine(store_url(home))
    try:
        with engine.begin() as c:
            old = str(c.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
            c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        engine.dispose()
    return old


def test_a_failed_lab_reload_says_why_every_time(cli: Cli, lab: Path) -> None:
    head = _set_revision(lab, "9999_from_a_newer_ccapki")
    try:
        for _ in range(2):
            r = error_with_hint(cli("lab", "reload"))
            assert "lab reloaded" not in r.both, r.both
            first, hint = r.err.splitlines()[:2]
            assert first.startswith("error: the lab did not reload: "), first
            assert "9999_from_a_newer_ccapki" in first, first
            assert "newer than this ccapki knows" in first, first
            assert "the lab keeps serving what it served before" in hint, hint
            assert "`ccapki lab reload`" in hint, hint
    finally:
        _set_revision(lab, head)
    r = ok(cli("lab", "reload"))
    assert "lab reloaded (1 reload so far)" in r.out, r.both
