"""``ccapki watch`` counted certificates not valid yet and stored certificates damaged "in
a warning stage" while ``ccapki status`` calls them CRITICAL (--nagios 2). Its line now says
them as status's summary does ("N not valid yet", "N stored certificate(s) damaged"), its
JSON counts them apart; its exit codes are kept (the run did its work), and its line says
"needs attention", not "ok:", over an estate `status` exits 1 for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text

from kit.certs import NOW
from kit.cli import FAQ, Cli, ok
from kit.pgmode import store_sql

#: a day before the FAQ's certificates were issued: every one of them is not valid yet
EARLY = NOW - dt.timedelta(days=1)


def _line(out: str) -> str:
    (line,) = [x for x in out.splitlines() if x.startswith("faq-campus: ")]
    return line


def test_watch_says_not_valid_yet_as_status_does(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    status = cli("status", "--json", now=EARLY)
    counts = status.json()["counts"]
    assert counts["not_yet_valid"] > 0, counts
    assert status.json()["nagios_code"] == 2
    r = ok(cli("watch", "--once", "--no-probe", now=EARLY))
    line = _line(r.out)
    assert line.startswith("faq-campus: needs attention:"), r.out  # the run did its work
    assert f", {counts['not_yet_valid']} not valid yet" in line, line
    warned = counts["warning"] + counts["missing"]
    assert f"{warned} in a warning stage" in line, line
    run = ok(cli("watch", "--once", "--no-probe", "--json", now=EARLY)).json()["runs"][0]
    assert (run["warnings"], run["not_yet_valid"]) == (warned, counts["not_yet_valid"]), run
    assert run["status_exit_code"] == 1, run


def test_watch_says_a_damaged_certificate_as_status_does(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    with store_sql(keyfile_store) as conn:  # the valid PEM of another certificate: the CAM's
        cam = conn.execute(
            text("SELECT pem FROM certificates WHERE identity = 'cam' ORDER BY version")
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE certificates SET pem = :pem WHERE identity = 'cas-dorm' AND "
                "version = (SELECT max(c.version) FROM certificates AS c "
                "WHERE c.identity = 'cas-dorm')"
            ),
            {"pem": cam},
        )
    assert cli("status", "--nagios").code == 2
    r = ok(cli("watch", "--once", "--no-probe"))
    line = _line(r.out)
    assert line.startswith("faq-campus: needs attention:"), r.out
    assert "0 in a warning stage, 1 stored certificate damaged (run `ccapki doctor`)" in line
    run = ok(cli("watch", "--once", "--no-probe", "--json")).json()["runs"][0]
    assert (run["warnings"], run["damaged"], run["status_exit_code"]) == (0, 1, 1), run


def test_watch_counts_expired_apart_as_status_does(cli: Cli, keyfile_store: Path) -> None:
    """A walkthrough: "3 certificates fine, 2 in a warning stage" while `status` said "2
    expired". Expired certificates are CRITICAL to `status`: said apart ("N expired"),
    counted apart in the JSON, never among the warnings."""
    ok(cli("apply", FAQ))
    late = NOW + dt.timedelta(days=3000)  # every identity expired, the CAs still valid
    status = cli("status", "--json", now=late)
    counts = status.json()["counts"]
    assert counts["expired"] > 0, counts
    r = ok(cli("watch", "--once", "--no-probe", now=late))
    line = _line(r.out)
    assert line.startswith("faq-campus: needs attention:"), r.out  # the run did its work
    warned = counts["warning"] + counts["missing"]
    assert f"{warned} in a warning stage, {counts['expired']} expired" in line, line
    run = ok(cli("watch", "--once", "--no-probe", "--json", now=late)).json()["runs"][0]
    assert (run["warnings"], run["expired"]) == (warned, counts["expired"]), run
    assert run["status_exit_code"] == 1, run
