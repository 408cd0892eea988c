"""Words that denied the lines around them.

1. ``renew --due`` printed "nothing to renew" right after its "skipped NAME: ..." lines
   (each naming a step: a CSR awaiting the CA, one a stopped run never wrote): now
   "nothing else to renew" after them; "nothing to renew" when nothing was skipped.
2. ``trust plan`` of a 4.9 deployment said "nothing to change" and then listed the
   "allow CAS X by DN on the CAM" lines: now "no trust-store change".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from kit.certs import NOW, OutsideCA
from kit.cli import Cli, ok, third_party_cas1

from .test_trust_workflows import dep


def test_renew_due_after_a_skipped_line_says_nothing_else(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    assert "nothing to renew in " in ok(cli("renew", "--due")).out  # nothing skipped
    later = NOW + dt.timedelta(days=1)  # the renewal's CSR, made after the import
    writes = {"CCAPKI_NOW_ALLOW_WRITES": "1"}
    ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "r", now=later, env=writes))
    due = NOW + dt.timedelta(days=320)  # cas1 due, its CSR at the CA; the CAM not due
    lines = ok(cli("renew", "--due", now=due)).out.splitlines()
    assert lines[0].startswith("skipped cas1: a CSR made on "), lines
    assert lines[1].startswith("nothing else to renew in "), lines
    assert not any(line.startswith("nothing to renew") for line in lines), lines


def test_trust_plan_with_dn_lines_says_no_trust_store_change(
    cli: Cli, deployed: Callable[[str], Path]
) -> None:
    deployed(dep("internal", "4.9.1"))
    lines = ok(cli("trust", "plan")).out.splitlines()
    assert lines[0] == "no trust-store change: every trust store holds what its channels need"
    assert any(x.startswith("allow CAS cas-ha-a by DN on the CAM") for x in lines[1:]), lines
    assert not any("nothing to change" in x for x in lines), lines
