"""Walkthrough T (a third-party CA over a year), the lifecycle's words.

1. ``renew --due`` skipping an identity whose renewal CSR awaits the CA said "`ccapki renew
   NAME` makes another CSR": that is a dry run; ``--commit`` makes it.
2. ``doctor`` of a third-party identity whose current certificate is not valid yet (the
   CA dated it ahead, a restore or ``--force`` took it) said "`ccapki apply FILE` reissues
   it": apply never reissues what an outside CA signs. The fix now names the CSR.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kit.certs import NOW, OutsideCA
from kit.cli import Cli, ok, third_party_cas1


def test_renew_due_says_commit_makes_another_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    later = NOW + dt.timedelta(days=1)  # the renewal's CSR made after the import
    writes = {"CCAPKI_NOW_ALLOW_WRITES": "1"}
    ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "r", now=later, env=writes))
    due = NOW + dt.timedelta(days=320)  # inside the 60-day stage: due
    r = ok(cli("renew", "--due", now=due))
    assert "skipped cas1: a CSR made on" in r.out, r.out
    assert "`ccapki renew cas1 --commit` makes another CSR" in r.out, r.out


def test_doctor_of_a_third_party_certificate_not_yet_valid_names_the_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    r = cli("doctor", "--json", now=NOW - dt.timedelta(days=2))
    assert r.code == 1, r.both
    found = {p["subject"]: p for p in r.json()["problems"] if p["code"] == "not-yet-valid"}
    assert "apply FILE" in found["cam v1"]["fix"]  # the internal CAM: apply reissues it
    p = found["cas1 v1"]
    assert "its CA dated it ahead, or this machine's clock is behind" in p["message"]
    assert "apply FILE" not in p["fix"], p["fix"]
    assert "`ccapki csr cas1`, then `ccapki import` what the CA returns" in p["fix"], p["fix"]
