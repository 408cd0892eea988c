"""``verify --live`` renders the typed report of :func:`ccapki.lifecycle.verify.verify_live`:
the Python API gives the same verdicts as the CLI, with client, server and channel as fields."""

from __future__ import annotations

import datetime as dt

from ccapki.lab.daemon import read_state
from ccapki.lifecycle.labspec import build_spec
from ccapki.lifecycle.trustops import load_inventory
from ccapki.lifecycle.verify import LiveState, verify_live
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from ccapki.topology.model import Channel
from kit.cli import Cli, ok
from kit.lab import LabFactory


def test_cli_json_is_the_report_of_verify_live(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    # cas-ha-a trusts nothing: its CAM/CAS and heartbeat cells fail, and the CAMs' links to it
    fp = ok(cli("trust", "list", "cas-ha-a", home_dir=lab.home)).out.split()[0]
    ok(cli("trust", "remove", "cas-ha-a", fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))
    code, doc = lab.verify(cli)

    dep = load_deployment(lab.deployment)
    with Store.open(lab.home, passphrase=lambda: "") as store:
        spec = build_spec(store, dep)
        inv = load_inventory(store, dep)
    state = read_state(lab.state_dir)
    assert state is not None
    assert state.status is not None
    report = verify_live(spec, inv, state.status, now=dt.datetime.now(dt.UTC), real=False)

    assert report.to_dict() == doc
    assert report.exit_code == code == 1
    assert report.agree
    assert not report.ok
    assert not report.unprobed_endpoints
    cells = {(c.appliance, c.channel): c for c in report.cells}
    broken = cells[("cas-ha-a", Channel.CAM_CAS)]
    assert (broken.offline, broken.live, broken.compared) == (False, LiveState.FAILED, True)
    assert cells[("cas-solo", Channel.AGENT)].live is LiveState.PASSED
    alone = cells[("cas-solo", Channel.HA_HEARTBEAT)]  # a standalone CAS has no heartbeat
    assert (alone.offline, alone.live) == (None, LiveState.NOT_APPLICABLE)
    # every probe says which cell it counts for; the failed ones name cas-ha-a as an end
    assert len(report.links) == report.probes
    failed = [x for x in report.links if not x.ok]
    assert failed
    assert all("cas-ha-a" in (x.client, x.server) for x in failed)
    assert {x.channel for x in failed} == {Channel.CAM_CAS, Channel.HA_HEARTBEAT}
    assert all(x.error and x.error.startswith(x.label) for x in failed)
