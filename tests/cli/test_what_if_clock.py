"""Issue 8 item 9: ``CCAPKI_NOW`` is a what-if clock for reports, never for writes.

Commands that change the store or write files refuse to run under ``CCAPKI_NOW`` (error +
hint, nothing written); read-only commands and ``apply --dry-run`` honour it. ``apply``
reissues a certificate that is not valid yet (one stored by a run on a future clock).

The suite's fixed clock is ``CCAPKI_NOW`` plus the test-only opt-in
``CCAPKI_NOW_ALLOW_WRITES=1`` (set by the conftest); these tests remove the opt-in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ccapki.store import Store
from kit.certs import NOW
from kit.cli import CliRunner, Result, db_bytes, deployment, standalone, write

HINT = "hint: unset CCAPKI_NOW; it is for what-if reports"


def _refused(r: Result) -> None:
    assert r.code == 2, r.both
    lines = r.err.splitlines()
    assert lines[0].startswith("error: "), r.err
    assert "CCAPKI_NOW" in lines[0], r.err
    assert lines[1].startswith(HINT), r.err
    assert "nothing was written" in lines[0]


@pytest.fixture
def applied(cli: CliRunner, home: Path, tmp_path: Path) -> Path:
    """A store with the deployment applied (on the fixed clock, opt-in still set)."""
    text = deployment(cas=[standalone("cas1", "10.1.0.1")])
    path = write(tmp_path / "d.toml", text)
    assert cli("init", "--key-file").code == 0
    assert cli("apply", str(path)).code == 0
    return path


def test_init_refuses_under_a_what_if_clock(
    cli: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCAPKI_NOW_ALLOW_WRITES", raising=False)
    _refused(cli("init", "--key-file"))
    assert not home.exists()


def test_writing_commands_refuse_and_reports_honour_it(
    cli: CliRunner,
    home: Path,
    tmp_path: Path,
    applied: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CCAPKI_NOW_ALLOW_WRITES", raising=False)
    later = NOW + dt.timedelta(days=800)
    before = db_bytes(home)
    cert = tmp_path / "cas1.crt"
    for args in (
        ("apply", str(applied)),
        ("export", "cas1", "--format", "cert", "--out", str(cert)),
        ("export", "cas1", "--format", "key", "--out", str(tmp_path / "cas1.key")),
        ("export-roots", "--out", str(tmp_path / "roots")),
        ("trust", "apply"),
        ("trust", "remove", "cam", "00"),
        ("keys", "retire", "00"),
        ("import", str(tmp_path / "nothing.pem")),
        ("csr", "cas1", "--out", str(tmp_path / "csrs")),
    ):
        _refused(cli(*args, now=later))
    assert db_bytes(home) == before
    assert not cert.exists()
    assert not (tmp_path / "roots").exists()
    assert not (tmp_path / "csrs").exists()
    # what-if reports run on the moved clock
    dry = cli("apply", str(applied), "--dry-run", now=later)
    assert dry.code == 0, dry.both
    assert "would renew cam: expired" in dry.out
    plan = cli("plan", str(applied), "--json", now=later)
    assert plan.code == 0
    assert {a["action"] for a in plan.json()["pending_actions"]} == {"renew"}
    assert cli("inspect", "cam", "--format", "json", now=later).json()["status"] == "expired"
    assert cli("trust", "check", now=later).code == 1  # everything expired
    assert db_bytes(home) == before
    # without CCAPKI_NOW the same apply writes (on the real clock)
    monkeypatch.delenv("CCAPKI_NOW")
    assert cli("apply", str(applied)).code == 0


def test_apply_reissues_a_certificate_that_is_not_valid_yet(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    """What the bug left behind: certificates stored by an apply under a future clock."""
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    assert cli("init", "--key-file").code == 0
    future = NOW + dt.timedelta(days=90)
    assert cli("apply", str(path), now=future).code == 0
    with Store.open(home) as store:
        assert store.identities.get("cam").certificate.not_valid_before_utc > NOW  # type: ignore[union-attr]
    plan = cli("plan", str(path), "--json")
    actions = {a["identity"]: a for a in plan.json()["pending_actions"]}
    assert actions["cam"]["action"] == "reissue"
    assert "not valid until" in actions["cam"]["reason"]
    r = cli("apply", str(path))
    assert r.code == 0, r.both
    assert "reissued cam v2" in r.out
    assert "reissued cas1 v2" in r.out
    with Store.open(home) as store:
        for name in ("cam", "cas1"):
            cur = store.identities.get(name)
            assert cur is not None
            assert cur.certificate.not_valid_before_utc <= NOW
    assert "nothing to do" in cli("apply", str(path)).out
