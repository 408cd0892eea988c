"""A CAM/CAS link's findings show on both appliances' cells: so does the FAQ case it falls in
and what that case requires, both ways. A CAS whose identity comes from a third-party CA the
CAM does not trust failed on its own cell with the case "internal PKI" and nothing required
(what the CAS must trust of the CAM), while its finding was the CAM's missing root."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kit.cli import CliRunner

from .conftest import THIRD_PARTY_DEP, import_signed_by, make_plain_root


def test_a_third_party_cas_cell_names_the_case_it_fails_on(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path, wall_clock: None
) -> None:
    # (openssl stamps its certificates with the machine's clock: so does this test)
    deployed(THIRD_PARTY_DEP)
    key, root = make_plain_root(tmp_path)
    import_signed_by(cli, tmp_path, key, root)  # the trust stores left without that root
    r = cli("trust", "check", "--json")
    assert r.code == 1, r.both
    cells = {(c["appliance"], c["channel"]): c for c in json.loads(r.out)["cells"]}
    tp, cam = cells[("cas-tp", "cam-cas")], cells[("cam-a", "cam-cas")]
    assert tp["status"] == "fail"
    assert any("Plain Third Party Root" in f for f in tp["findings"])
    for cell in (tp, cam):
        assert "third-party CA" in cell["case"], cell
        assert cell["requires"] is not None
        assert "Plain Third Party Root" in cell["requires"]
    # a CAS of the same deployment on the internal CA keeps its own case alone
    assert cells[("cas-ha-a", "cam-cas")]["case"] == "internal PKI"
