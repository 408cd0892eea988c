"""Issue 12 walkthrough: the lab of a store holding two deployments serves the one named
(``--deployment`` or ``CCAPKI_DEPLOYMENT``); ``lab status``, ``probe`` and ``verify --live``
then work for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write
from kit.lab import LabFactory, appliances, assert_all_pass, stop_lab


@pytest.mark.parametrize("how", ["option", "env"])
def test_lab_serves_the_named_deployment_of_two(
    cli: Cli, make_lab: LabFactory, tmp_path: Path, how: str
) -> None:
    lab = make_lab(up=False)
    other = deployment(name="hospital", cam=standalone("hosp-cam", "10.9.0.1"))
    ok(cli("apply", write(tmp_path / "h.toml", other), home_dir=lab.home))
    # none named: the CLI says so at once (not the background process)
    r = error_with_hint(cli("lab", "up", "--interval", "1", home_dir=lab.home))
    assert "2 deployments" in r.err
    assert "lab daemon" not in r.err
    named = ("--deployment", "labcli") if how == "option" else ()
    env = {"CCAPKI_DEPLOYMENT": "labcli"} if how == "env" else {}
    lab.env.update(env)
    try:
        up = ok(cli(*named, "lab", "up", "--interval", "1", home_dir=lab.home, env=lab.env))
        assert "labcli" in up.out
        status = lab.status(cli)
        assert status["deployment"] == "labcli"
        assert {e["appliance"] for e in status["endpoints"]} == set(appliances())
        r = cli(*named, "verify", "--live", "--json", home_dir=lab.home, env=lab.env)
        assert_all_pass(r.code, r.json())
        probe = ok(cli(*named, "probe", "--json", home_dir=lab.home, env=lab.env)).json()
        assert probe, probe
        # another deployment of the store is not what this lab serves: said, not compared
        r = error_with_hint(cli("--deployment", "hospital", "verify", "--live", home_dir=lab.home))
        assert "serves deployment 'labcli', not 'hospital'" in r.err
        assert "--deployment hospital lab up" in r.err
    finally:
        stop_lab(cli, lab)
