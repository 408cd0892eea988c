"""Walk 15: ``ccapki status`` counts what its table shows.

A trust-store root several appliances trust is one row of the table ("... (on 4 appliances:
...)"): the summary, the Nagios performance data and the JSON counts count it once too (the
JSON items keep one per appliance).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from kit.cli import Cli, deployment, ha_pair, ok, standalone, write

DAY = dt.timedelta(days=1)

#: CCA 4.7.2: the CAS pair cas-ward keeps its three-month true self-signed certificate, its
#: own anchor in four trust stores (cam-a, cam-b, cas-ward-a, cas-ward-b).
DEP = deployment(
    release="4.7.2",
    cam=ha_pair("cam", "10.0.0"),
    cas=[ha_pair("cas-ward", "10.5.0", source="self-signed"), standalone("cas-one", "10.6.0.1")],
)


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path, tmp_path: Path) -> dt.datetime:
    """The deployment applied; returns cas-ward's expiry."""
    ok(cli("apply", write(tmp_path / "dep.toml", DEP)))
    items = ok(cli("status", "--json")).json()["items"]
    ward = next(i for i in items if i["kind"] == "identity" and i["name"] == "cas-ward")
    return dt.datetime.fromisoformat(ward["not_after"])


def _rows(out: str, stage: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(stage + " ")]


@pytest.mark.parametrize(
    ("before", "stage", "words"),
    [(20 * DAY, "<=30d", "within 30 days"), (-2 * DAY, "EXPIRED", "expired")],
)
def test_summary_and_perfdata_count_the_rows_of_the_table(
    cli: Cli, applied: dt.datetime, before: dt.timedelta, stage: str, words: str
) -> None:
    when = applied - before
    r = cli("status", now=when)
    assert r.code == 1, r.both
    rows = _rows(r.out, stage)
    # one row (walkthrough 22): the identity, also the root its four appliances trust
    assert [row.split()[2] for row in rows] == ["identity"], r.out
    assert "trust store of 4 appliances: cam-a, cam-b, cas-ward-a, cas-ward-b" in r.out
    summary = r.out.splitlines()[-1]
    assert f"summary: {len(rows)} {words}" in summary, summary
    nagios = cli("status", "--nagios", now=when).out.splitlines()
    key = "expired" if stage == "EXPIRED" else "warning"
    assert f" {key}={len(rows)} " in nagios[0], nagios[0]
    assert f"{len(rows)} {words}" in nagios[0]
    # the plugin's long text: one line per row (the identity's; no root line again)
    assert [ln.split()[:2] for ln in nagios[1:]] == [["identity", "cas-ward:"]], nagios
    doc = cli("status", "--json", now=when).json()
    assert doc["counts"][key] == len(rows)
    assert doc["summary"] == summary.removeprefix("summary: ")
    # --json keeps the per-appliance detail
    held = [i for i in doc["items"] if i["kind"] == "trust-root" and "cas-ward's" in i["name"]]
    assert len(held) == 4


def test_fine_counts_one_per_row(cli: Cli, applied: dt.datetime) -> None:
    r = ok(cli("status", now=applied - 80 * DAY))
    lines = r.out.splitlines()
    table = [ln for ln in lines[2:-1] if ln and not ln.startswith(" ")]
    fine = int(re.match(r"summary: (\d+) certificates fine", lines[-1]).group(1))  # type: ignore[union-attr]
    assert fine == sum(1 for ln in table if ln.startswith("ok "))
    assert ok(cli("status", "--json", now=applied - 80 * DAY)).json()["counts"]["ok"] == fine
