"""Issue 12 walkthrough: a store on a read-only mount (or without write permission) is
read-only, not broken: reading commands work, writing ones say "read-only" with a hint,
and ``doctor`` says read-only, never "damaged"."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, Result, error_with_hint, ok
from kit.readonly import run_read_only


def _digest(home: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(home.iterdir()):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


def _fine(r: Result) -> Result:
    assert "not a ccapki store" not in r.both, r.both
    assert "read-only" not in r.err, r.both
    assert "Traceback" not in r.both, r.both
    return r


def test_reading_commands_work_on_a_read_only_store(applied: Path, tmp_path: Path) -> None:
    before = _digest(applied)
    r = _fine(run_read_only(applied, "status"))
    assert r.code in (0, 1), r.both
    assert "cas-dorm" in r.out
    assert ok(_fine(run_read_only(applied, "inspect", "cas-dorm"))).out
    assert "cas-dorm" in ok(_fine(run_read_only(applied, "keys", "list"))).out
    r = _fine(run_read_only(applied, "trust", "check"))
    assert r.code in (0, 1), r.both
    assert ok(_fine(run_read_only(applied, "plan"))).out
    out = tmp_path / "cas-dorm.crt"
    ok(_fine(run_read_only(applied, "export", "cas-dorm", "--format", "cert", "--out", str(out))))
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert _digest(applied) == before  # nothing migrated, nothing written


@pytest.mark.sqlite_only  # a read-only SQLite file (PostgreSQL: the server's rights)
def test_writing_commands_say_read_only(applied: Path) -> None:
    before = _digest(applied)
    for args in (("apply", str(FAQ)), ("renew", "cas-dorm", "--commit"), ("trust", "apply")):
        r = error_with_hint(run_read_only(applied, *args))
        assert "is read-only" in r.err, r.both
        assert "not a ccapki store" not in r.err, r.both
        assert "restore" not in r.err, r.both
        assert "permission" in r.err, r.both
        assert "mount" in r.err, r.both
    assert _digest(applied) == before


@pytest.mark.sqlite_only  # a read-only SQLite file (PostgreSQL: the server's rights)
def test_doctor_says_read_only_not_damaged(applied: Path) -> None:
    r = run_read_only(applied, "doctor")
    assert "damaged" not in r.both, r.both
    assert "read-only" in r.both, r.both
    assert r.code in (0, 1), r.both
