"""The lab follows the release profile, and `verify --live` compares what the release does.

One deployment per row of :data:`ccapki.topology.releases.RELEASES` (4.0, 4.5/4.6, 4.7.x,
4.8, 4.9), applied to a real store and served by a real lab: CAM/CAS links verify only from
4.5 (before, they run TLS without verification), the certificate-keyed heartbeat exists only
from 4.7, the CAM authorizes CAS DNs on 4.9. ``n/a`` against ``pass`` or ``fail`` is a
disagreement (exit 3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from ccapki.lab import Lab, LabSpec, LabStatus
from ccapki.lifecycle.labspec import build_spec
from ccapki.lifecycle.trustops import Inventory, load_inventory
from ccapki.lifecycle.verify import LiveReport, LiveState, verify_live_async
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from ccapki.topology.model import Channel
from ccapki.topology.releases import CHANNEL_STACKS
from kit.cli import Cli, ok
from kit.lab import deployment_toml, run

#: one release per profile row
ROWS = ("4.0.0", "4.6.1", "4.7.2", "4.8.0", "4.9.0")


def _applied(cli: Cli, tmp_path: Path, release: str) -> tuple[LabSpec, Inventory]:
    home = tmp_path / "home"
    path = tmp_path / "dep.toml"
    path.write_text(
        deployment_toml().replace('release = "4.8.0"', f'release = "{release}"'), "utf-8"
    )
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", path, home_dir=home))
    dep = load_deployment(path)
    with Store.open(home, passphrase=lambda: "") as store:
        return build_spec(store, dep), load_inventory(store, dep)


def _serve(spec: LabSpec, inv: Inventory) -> tuple[LabStatus, LiveReport]:
    async def go() -> tuple[LabStatus, LiveReport]:
        async with Lab(spec) as lab:
            status = lab.status()
            now = dt.datetime.now(dt.UTC)
            return status, await verify_live_async(spec, inv, status, now=now, real=False)

    return run(go(), timeout=45)


@pytest.mark.parametrize("release", ROWS)
def test_the_lab_runs_what_the_release_runs(cli: Cli, tmp_path: Path, release: str) -> None:
    spec, inv = _applied(cli, tmp_path, release)
    profile = inv.deployment.profile
    assert spec.mutual_verification is profile.mutual_verification
    assert spec.heartbeat is profile.ha_ipsec_heartbeat
    assert (spec.dn_authorization is not None) is profile.dn_authorization
    status, report = _serve(replace(spec, jsse=False), inv)

    kinds = {x.kind for x in status.links}
    assert ("heartbeat" in kinds) is profile.ha_ipsec_heartbeat
    assert ("heartbeat" in {e.kind for e in status.endpoints}) is profile.ha_ipsec_heartbeat
    assert kinds >= {"status", "control"}  # TLS links run on every release
    assert all(x.ok for x in status.links), status.links
    control = [e for e in status.endpoints if e.kind == "control"]
    assert all(e.mutual is profile.mutual_verification for e in control)
    if not profile.ha_ipsec_heartbeat:
        assert {p.state for p in status.pairs} == {"heartbeat not certificate-keyed before 4.7"}

    assert (report.exit_code, report.agree, report.ok) == (0, True, True), report.to_dict()
    for cell in report.cells:
        applies = {
            Channel.CAM_CAS: profile.mutual_verification,
            Channel.HA_HEARTBEAT: profile.ha_ipsec_heartbeat
            and cell.appliance.startswith(("cam-", "cas-ha-")),
        }.get(cell.channel, True)
        want = LiveState.PASSED if applies else LiveState.NOT_APPLICABLE
        assert (cell.offline is not None, cell.live, cell.agree) == (applies, want, True), cell
        assert cell.offline_stack == CHANNEL_STACKS[cell.channel.value]
        assert bool(cell.live_stack) is applies


def test_na_against_fail_is_a_disagreement(cli: Cli, tmp_path: Path) -> None:
    # a lab that verifies CAM/CAS links on 4.0 (as it did before it followed the release):
    # offline says n/a, live fails (4.0 trust stores hold no peer): exit 3, never "agree"
    spec, inv = _applied(cli, tmp_path, "4.0.0")
    _status, report = _serve(replace(spec, jsse=False, mutual_verification=True), inv)
    cells = [c for c in report.cells if c.channel is Channel.CAM_CAS]
    assert cells
    assert {(c.offline, c.live, c.agree) for c in cells} == {(None, LiveState.FAILED, False)}
    assert {c.to_dict()["offline"] for c in cells} == {"n/a"}
    assert not report.agree
    assert report.exit_code == 3


def test_4_9_cam_refuses_a_cas_dn_it_does_not_authorize(cli: Cli, tmp_path: Path) -> None:
    spec, inv = _applied(cli, tmp_path, "4.9.0")
    assert spec.dn_authorization is not None
    assert len(spec.dn_authorization) == 2  # the CAS pair's DN and the standalone CAS's
    solo_dn = next(d for d in spec.dn_authorization if "cas-solo" in d)
    allowed = tuple(d for d in spec.dn_authorization if d != solo_dn)
    status, report = _serve(replace(spec, jsse=False, dn_authorization=allowed), inv)
    down = {x.name for x in status.links if not x.ok}
    assert down == {"status:cas-solo->cam-a"}
    refused = next(x for x in status.links if x.name == "status:cas-solo->cam-a")
    assert "not authorized" in (refused.server_error or ""), refused
    # live sees the refusal the offline side does not model: a disagreement
    cell = next(
        c for c in report.cells if (c.appliance, c.channel) == ("cas-solo", Channel.CAM_CAS)
    )
    assert (cell.offline, cell.live) == (True, LiveState.FAILED)
    assert report.exit_code == 3


def test_4_0_links_run_unverified_against_the_jvm_endpoints(cli: Cli, tmp_path: Path) -> None:
    # with the JVM serving the control endpoints (the default where java is installed), the
    # 4.0 links still run TLS without verification: they stay up with empty trust stores
    spec, inv = _applied(cli, tmp_path, "4.0.0")
    assert spec.jsse  # java is installed here (.ci/run installs default-jdk-headless)
    empty = tuple(replace(a, identity=replace(a.identity, trust_pem=b"")) for a in spec.appliances)
    status, report = _serve(replace(spec, appliances=empty), inv)
    assert all(x.ok for x in status.links), status.links
    assert {x.kind for x in status.links} == {"status", "control"}
    assert report.exit_code == 0, report.to_dict()
