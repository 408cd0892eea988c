"""Walkthrough "the store in every state": ``ccapki status`` (the table, ``--json``,
``--nagios``) said OK on a store whose stored certificate text was damaged (garbage, the PEM
of another certificate, bytes that are not UTF-8); only ``ccapki doctor`` saw it. Status
reads the rows' columns, not their PEM: it now checks each current certificate's PEM
against its row's fingerprint (base64 and a hash), and says DAMAGED with a hint naming
``ccapki doctor``: never OK, never exit 70."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from ccapki.lifecycle.status import estate_status
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok
from kit.pgmode import store_sql

from .conftest import open_store

#: the newest version of cas-dorm: the row status reports on
_NEWEST = (
    "identity = 'cas-dorm' AND version = (SELECT max(c.version) FROM certificates AS c "
    "WHERE c.identity = 'cas-dorm')"
)


@pytest.fixture
def applied(cli: Cli, home: Path) -> Path:
    ok(cli("init"))
    ok(cli("apply", FAQ))
    return home


def _damage(home: Path, how: str) -> None:
    """Change cas-dorm's newest stored certificate outside ccapki (either backend)."""
    with store_sql(home) as conn:
        if how == "garbage":
            conn.execute(text(f"UPDATE certificates SET pem = 'garbage' WHERE {_NEWEST}"))
        else:  # the valid PEM of another certificate: the CAM's
            cam = conn.execute(
                text("SELECT pem FROM certificates WHERE identity = 'cam' ORDER BY version")
            ).scalar_one()
            conn.execute(text(f"UPDATE certificates SET pem = :pem WHERE {_NEWEST}"), {"pem": cam})


def _says_damaged(cli: Cli) -> None:
    """Every form of ``ccapki status`` reports cas-dorm DAMAGED, naming ``ccapki doctor``."""
    r = cli("status")
    assert r.code == 1, r.both  # was 0, "9 certificates fine"
    row = next(line for line in r.out.splitlines() if " cas-dorm " in line)
    assert row.startswith("DAMAGED"), r.out
    assert "`ccapki doctor`" in r.out, r.out
    summary = r.out.splitlines()[-1]
    assert summary.startswith("summary: 1 stored certificate damaged"), r.out
    assert "fine" not in summary, r.out
    assert "internal error" not in r.both

    r = cli("status", "--json")
    assert r.code == 1, r.both
    data = r.json()
    assert data["counts"]["damaged"] == 1, data["counts"]
    assert (data["exit_code"], data["nagios_code"]) == (1, 2)
    (item,) = [i for i in data["items"] if i["name"] == "cas-dorm"]
    assert item["stage"] == "damaged", item
    assert "`ccapki doctor`" in item["note"], item

    r = cli("status", "--nagios")
    assert r.code == 2, r.both  # CRITICAL: was 0, OK
    first, *details = r.out.splitlines()
    assert first.startswith("CCAPKI CRITICAL - 1 stored certificate damaged"), r.out
    assert "damaged=1" in first, first
    assert any(d.startswith("identity cas-dorm: ") and "ccapki doctor" in d for d in details)


@pytest.mark.parametrize("how", ["garbage", "another-certificate"])
def test_status_says_a_damaged_stored_certificate_is_damaged(
    cli: Cli, applied: Path, how: str
) -> None:
    r = cli("status", "--nagios")
    assert r.code == 0, r.both  # healthy: OK
    _damage(applied, how)
    _says_damaged(cli)
    r = cli("doctor")  # which says what and how to restore it: the hint's command
    assert r.code == 1, r.both
    assert "cas-dorm" in r.out, r.out


def test_estate_status_from_python_reports_it_too(cli: Cli, applied: Path) -> None:
    _damage(applied, "garbage")
    with open_store(applied) as store:
        report = estate_status(store, now=NOW)
    (item,) = [i for i in report.items if i.name == "cas-dorm"]
    assert item.stage == "damaged", item
    assert item.not_after is not None  # the row's columns
    assert item.days_left is not None
    assert report.counts()["damaged"] == 1
    assert (report.exit_code, report.nagios_code) == (1, 2)
    others = [i for i in report.items if i.kind == "identity" and i.name != "cas-dorm"]
    assert others
    assert all(i.stage == "ok" for i in others)


@pytest.mark.sqlite_only  # text that is not UTF-8: SQLite keeps it, PostgreSQL refuses it
def test_status_says_a_certificate_that_is_not_utf8_is_damaged(cli: Cli, applied: Path) -> None:
    con = sqlite3.connect(applied / "ccapki.db", isolation_level=None)
    try:
        (pem,) = con.execute(f"SELECT pem FROM certificates WHERE {_NEWEST}").fetchone()
        broken = pem.encode()[:80] + b"\xff\xfe" + pem.encode()[82:]
        con.execute(f"UPDATE certificates SET pem = CAST(? AS TEXT) WHERE {_NEWEST}", (broken,))
    finally:
        con.close()
    _says_damaged(cli)  # was OK: status never read the PEM; doctor said "damaged"
    r = cli("doctor")
    assert r.code == 1, r.both
    assert "damaged" in r.out, r.out


def test_a_renewed_identity_is_not_damaged(cli: Cli, applied: Path) -> None:
    ok(cli("renew", "cas-dorm", "--commit"))  # v2: the check reads the newest row only
    r = cli("status", "--json")
    assert r.code == 0, r.both  # no false alarm on a store with several versions
    assert not [i for i in r.json()["items"] if i["stage"] == "damaged"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("watch", "--once", "--no-probe"), 1),  # the run failed: said in its line and log
        (("trust", "check"), 2),
        (("export", "cas-dorm", "--format", "cert", "--out", "-"), 2),
    ],
)
def test_commands_that_read_certificates_say_a_garbage_one_is_damaged(
    cli: Cli, applied: Path, args: tuple[str, ...], code: int
) -> None:
    """Walkthrough G: a stored certificate whose text does not parse made ``watch --once``
    fail with "ValueError: Unable to load PEM file" (and every command reading the
    identities with it): the identity named as damaged, a hint to restore or reissue,
    never an internal error."""
    _damage(applied, "garbage")
    r = cli(*args)
    assert "internal error" not in r.both, r.both
    assert "ValueError" not in r.both, r.both
    assert "the stored certificate of cas-dorm (version 1) is damaged" in r.both, r.both
    if code == 2:  # a command's error: its hint names the way out
        assert "backup restore FILE --identity cas-dorm" in r.both, r.both
    assert r.code == code, r.both
