"""Probe targets say which deployment cell they count for (client, server, channel) as fields,
so ``verify --live`` never reads them back from the display label."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccapki.lab import (
    EndpointStatus,
    LabSpec,
    LabStatus,
    failover_targets,
    live_targets,
)
from ccapki.probe import ProbeTarget
from ccapki.topology.model import Channel
from kit.lab import Deployment

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store

HTTPS_CHANNEL = {"agent": Channel.AGENT, "web-login": Channel.WEB_LOGIN, "gui": Channel.ADMIN_GUI}


def _status(spec: LabSpec, *, without: frozenset[tuple[str, str]] = frozenset()) -> LabStatus:
    """Every endpoint of ``spec`` (but ``without``) on loopback; nothing listens: the targets
    are only built, never probed."""
    pairs = [(a, k) for a in spec.appliances for k in a.endpoint_kinds]
    eps = tuple(
        EndpointStatus(
            a.name, k, "127.0.0.1", 20000 + i, a.peer_name, k in ("control", "heartbeat")
        )
        for i, (a, k) in enumerate(pairs)
        if (a.name, k) not in without
    )
    return LabStatus(True, eps, (), (), ())


def _cells(targets: list[ProbeTarget]) -> set[tuple[str, str | None, str | None, Channel | None]]:
    return {(t.purpose, t.client, t.server, t.channel) for t in targets}


def _with_cam_pair(d: Deployment) -> LabSpec:
    """The lab deployment with a CAM HA pair: cam primary (active), cam2 secondary (standby)."""
    spec = d.spec()
    cam = replace(spec.appliance("cam"), pair="cam-ha", ha_role="primary")
    cam2 = replace(cam, name="cam2", hostname="cam2.example.edu", ha_role="secondary")
    rest = tuple(a for a in spec.appliances if a.name != "cam")
    return replace(spec, appliances=(cam, cam2, *rest))


def test_live_targets_carry_client_server_and_channel(deployment: Deployment) -> None:
    spec = deployment.spec()
    targets = live_targets(spec, _status(spec), client_trust_pem=deployment.trust)
    links = {
        *(("status", cas, "cam", Channel.CAM_CAS) for cas in ("cas1a", "cas1b", "cas2")),
        *(("control", "cam", cas, Channel.CAM_CAS) for cas in ("cas1a", "cas1b", "cas2")),
        ("heartbeat", "cas1b", "cas1a", Channel.HA_HEARTBEAT),
    }
    https = {
        (k, None, a.name, HTTPS_CHANNEL[k])
        for a in spec.appliances
        for k in a.endpoint_kinds
        if k in HTTPS_CHANNEL
    }
    assert _cells(targets) == links | https
    assert len(targets) == len(links | https)
    for t in targets:  # the label is for display only, and says the same
        assert t.label == (
            f"{t.purpose}:{t.client}->{t.server}" if t.client else f"{t.purpose}:{t.server}"
        )


def test_failover_targets_reverse_heartbeats_and_the_standby_cam(deployment: Deployment) -> None:
    spec = _with_cam_pair(deployment)
    targets = failover_targets(spec, _status(spec))
    cases = ("cas1a", "cas1b", "cas2")
    assert _cells(targets) == {
        ("heartbeat", "cam", "cam2", Channel.HA_HEARTBEAT),
        ("heartbeat", "cas1a", "cas1b", Channel.HA_HEARTBEAT),
        *(("status", cas, "cam2", Channel.CAM_CAS) for cas in cases),
        *(("control", "cam2", cas, Channel.CAM_CAS) for cas in cases),
    }
    by = {(t.purpose, t.client, t.server): t for t in targets}
    primary = spec.appliance("cas1a")
    hb = by[("heartbeat", "cas1a", "cas1b")]
    # the peer must hold the pair's identity, presented with the primary's own material
    assert hb.expect_leaf_sha256 == primary.heartbeat_material.fingerprint
    assert hb.client_cert_pem == primary.heartbeat_material.cert_chain_pem
    assert by[("status", "cas2", "cam2")].expect_leaf_sha256 is None


def test_targets_without_an_endpoint_are_skipped_or_refused(deployment: Deployment) -> None:
    spec = _with_cam_pair(deployment)
    gone = frozenset({("cam2", "control"), ("cas1a", "heartbeat"), ("cas1b", "heartbeat")})
    status = _status(spec, without=gone)
    kept = _cells(failover_targets(spec, status, skip_missing=True))
    # cam2 -> each CAS still has its server endpoint; each CAS -> cam2 has none
    assert kept == {
        ("heartbeat", "cam", "cam2", Channel.HA_HEARTBEAT),
        *(("control", "cam2", cas, Channel.CAM_CAS) for cas in ("cas1a", "cas1b", "cas2")),
    }
    lab = _cells(live_targets(spec, status, client_trust_pem=None, skip_missing=True))
    assert {c for c in lab if c[3] is Channel.HA_HEARTBEAT} == {
        ("heartbeat", "cam2", "cam", Channel.HA_HEARTBEAT)
    }
    with pytest.raises(KeyError):
        failover_targets(spec, status)
    with pytest.raises(KeyError):
        live_targets(spec, status, client_trust_pem=None)
