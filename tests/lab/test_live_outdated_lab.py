"""``verify --live`` against a lab that serves an older state of the store (trust stores
changed by `trust apply` since `lab up` / `lab reload`): the cells of the appliances the lab
serves other material for are not compared, and the report says to reload the lab, instead
of calling the difference a ccapki bug and exiting 3.
"""

from __future__ import annotations

from kit.cli import Cli, ok
from kit.lab import CAS_HA, LabFactory, assert_all_pass


def test_trust_applied_without_lab_reload_is_not_a_ccapki_bug(
    cli: Cli, make_lab: LabFactory
) -> None:
    lab = make_lab()
    secondary = CAS_HA[1]
    fp = ok(cli("trust", "list", secondary, home_dir=lab.home)).out.split()[0]
    ok(cli("trust", "remove", secondary, fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))  # the lab serves the broken trust store
    ok(cli("trust", "apply", home_dir=lab.home))  # the store is fixed, the lab not reloaded

    code, doc = lab.verify(cli)
    assert doc["lab_outdated"] == [secondary]
    assert [c for c in doc["cells"] if not c["agree"]] == []
    assert doc["agree"] is True
    assert code == 1  # the lab's stale endpoint still fails: a finding, not a disagreement
    stale = [c for c in doc["cells"] if c["appliance"] == secondary and c["live"] == "fail"]
    assert stale
    assert all(not c["compared"] for c in stale)
    assert any("ccapki lab reload" in e for c in stale for e in c["live_errors"])
    text = cli("verify", "--live", home_dir=lab.home)
    assert text.code == 1, text.both
    assert "ccapki bug" not in text.both
    assert f"for {secondary} (changed since" in text.out, text.both

    ok(cli("lab", "reload", home_dir=lab.home))
    code, doc = lab.verify(cli)
    assert_all_pass(code, doc)
    assert doc["lab_outdated"] == []
