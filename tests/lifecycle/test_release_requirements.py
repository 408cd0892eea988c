"""Issue 10, item 1: `trust plan` / `apply` and `check-ha` claim no heartbeat requirement on a
release whose HA heartbeat is not keyed by the certificate (before 4.7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kit.cli import CliRunner, ha_pair, ok

from .conftest import deployment

PERFIGO = "Perfigo"


def _dep(release: str) -> str:
    # the CAS pair's issuer (the Perfigo root) differs from the CAM's (the internal root):
    # the pair needs its own issuer in its trust store only for the certificate heartbeat
    return deployment(release=release, cas=[ha_pair("cas-ha", "10.5.0", source="perfigo")])


def _trusted(cli: CliRunner, appliance: str) -> str:
    return str(ok(cli("trust", "list", appliance)).out)


@pytest.mark.parametrize(("release", "heartbeat"), [("4.6.1", False), ("4.8.0", True)])
def test_the_pair_trusts_its_own_issuer_only_for_the_heartbeat(
    cli: CliRunner, deployed: Callable[[str], Path], release: str, heartbeat: bool
) -> None:
    deployed(_dep(release))
    assert ok(cli("trust", "plan", "--json")).json() == []
    for peer in ("cas-ha-a", "cas-ha-b"):
        assert (PERFIGO in _trusted(cli, peer)) is heartbeat
    assert PERFIGO in _trusted(cli, "cam")  # the CAM verifies the pair on every 4.5+ release


def test_check_ha_before_4_7_does_not_claim_an_ipsec_heartbeat(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(
        deployment(release="4.6.1", cas=[ha_pair("cas-ha", "10.5.0"), ha_pair("cas-hb", "10.7.0")])
    )
    a, b = tmp_path / "a.p12", tmp_path / "b.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", a, "--password", "pw-12345"))
    ok(cli("export", "cas-hb", "--for-peer", "--out", b, "--password", "pw-12345"))
    args = ("check-ha", "cas-ha", "--primary", a, "--secondary", b, "--password", "pw-12345")
    r = cli(*args)
    assert r.code == 1, r.both
    assert "HA broken" not in r.out
    assert "IPsec heartbeat will not come up" not in r.out
    assert "not fit for HA" in r.out
    doc = cli(*args, "--json").json()
    assert (doc["ok"], doc["heartbeat_keyed"]) == (False, False)
