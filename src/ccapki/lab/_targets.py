"""Probe targets for every channel of a running lab, connecting as each channel's client.

Each target carries the cell it counts for (``client``, ``server``, ``channel``), so a caller
comparing live results with offline verdicts never reads them back from the display label.
"""

from __future__ import annotations

from ccapki.lab._lab import link_definitions
from ccapki.lab._spec import ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.lab._status import LabStatus
from ccapki.probe import JAVA_STACK, ProbeTarget
from ccapki.topology.model import Channel

__all__ = ["failover_targets", "live_targets"]

#: The deployment channel of each link kind and endpoint kind.
_CHANNEL_OF_KIND: dict[str, Channel] = {
    "status": Channel.CAM_CAS,
    "control": Channel.CAM_CAS,
    "heartbeat": Channel.HA_HEARTBEAT,
    "agent": Channel.AGENT,
    "web-login": Channel.WEB_LOGIN,
    "gui": Channel.ADMIN_GUI,
}


def _link_target(
    spec: LabSpec,
    status: LabStatus,
    *,
    kind: str,
    client: ApplianceSpec,
    server: ApplianceSpec,
    endpoint: str,
    material: EndpointMaterial,
    timeout: float,
    expect_leaf: bool,
) -> ProbeTarget:
    """``client`` connecting to ``server``'s ``endpoint`` with ``material`` (raises
    ``KeyError`` when ``status`` has no such endpoint)."""
    ep = status.endpoint(server.name, endpoint)
    # before 4.5 a CAM/CAS link is TLS without verification and without a client certificate
    verify = kind == "heartbeat" or spec.mutual_verification
    return ProbeTarget(
        ep.host,
        ep.port,
        server.peer_name if spec.check_peer_names and verify else None,
        material.trust_pem if verify else None,
        client_cert_pem=material.cert_chain_pem if verify else None,
        client_key_pem=material.key_pem if verify else None,
        verify=verify,
        purpose=kind,
        label=f"{kind}:{client.name}->{server.name}",
        timeout=timeout,
        strict_x509=spec.strict_x509,
        expect_leaf_sha256=material.fingerprint if expect_leaf else None,
        client=client.name,
        server=server.name,
        channel=_CHANNEL_OF_KIND[kind],
        # CAM <-> CAS links are verified by the appliances' Java: probed by JSSE when it runs
        stack=JAVA_STACK if spec.jsse and verify and endpoint == "control" else None,
    )


def live_targets(
    spec: LabSpec,
    status: LabStatus,
    *,
    client_trust_pem: bytes | None,
    timeout: float = 5.0,
    skip_missing: bool = False,
) -> list[ProbeTarget]:
    """One :class:`ProbeTarget` per channel, as its real client would connect.

    Appliance links (``status``, ``control``, ``heartbeat``) present the client appliance's
    identity and verify with its trust store; the heartbeat also requires the peer to hold
    the same certificate. The agent, web-login and GUI endpoints are probed as an endpoint or
    browser whose root store is ``client_trust_pem`` (None: this machine's store). Labels are
    the lab's link names (``status:cas1->cam``) and ``KIND:APPLIANCE`` for HTTPS endpoints.
    With ``skip_missing`` a link whose server endpoint ``status`` lacks is left out (real
    appliances: only the endpoints the deployment file names are probed); without it such a
    link raises ``KeyError``.
    """
    out: list[ProbeTarget] = []
    for d in link_definitions(spec):
        client = spec.appliance(d.client)
        try:
            out.append(
                _link_target(
                    spec,
                    status,
                    kind=d.kind,
                    client=client,
                    server=spec.appliance(d.server),
                    endpoint=d.endpoint,
                    material=(
                        client.heartbeat_material if d.material == "heartbeat" else client.identity
                    ),
                    timeout=timeout,
                    expect_leaf=d.kind == "heartbeat",
                )
            )
        except KeyError:
            if skip_missing:  # a real appliance whose endpoint the deployment does not give
                continue
            raise
    for e in status.endpoints:
        if e.url is None:
            continue
        out.append(
            ProbeTarget(
                e.host,
                e.port,
                e.server_name,
                client_trust_pem,
                purpose=e.kind,
                label=f"{e.kind}:{e.appliance}",
                http_get=e.kind in ("web-login", "gui"),
                timeout=timeout,
                # browsers and OS verifiers, like OpenSSL's default mode, accept what
                # X509_STRICT refuses (a CA without keyUsage, for one): see docs/stacks.md
                strict_x509=spec.strict_x509,
                server=e.appliance,
                channel=_CHANNEL_OF_KIND[e.kind],
            )
        )
    return out


def failover_targets(
    spec: LabSpec, status: LabStatus, *, timeout: float = 5.0, skip_missing: bool = False
) -> list[ProbeTarget]:
    """The links the lab does not run but a failover needs, as their clients would connect.

    - each HA heartbeat the other way (primary -> secondary): each peer must present the
      pair's identity, so a secondary holding another certificate fails;
    - every CAS <-> each standby CAM (a CAM that is not the active one), both ways: after a
      failover the CASes talk to it, so its trust store and identity must work too.

    ``skip_missing`` as in :func:`live_targets` (without it a missing endpoint raises
    ``KeyError``).
    """
    links: list[tuple[str, ApplianceSpec, ApplianceSpec, str, EndpointMaterial]] = []
    for _pair, (primary, secondary) in sorted(spec.pairs().items() if spec.heartbeat else ()):
        links.append(("heartbeat", primary, secondary, "heartbeat", primary.heartbeat_material))
    active = spec.active_cam
    for cam in (a for a in spec.appliances if a.role == "cam" and a is not active):
        for cas in (a for a in spec.appliances if a.role == "cas"):
            links.append(("status", cas, cam, "control", cas.identity))
            links.append(("control", cam, cas, "control", cam.identity))
    out: list[ProbeTarget] = []
    for kind, client, server, endpoint, material in links:
        try:
            out.append(
                _link_target(
                    spec,
                    status,
                    kind=kind,
                    client=client,
                    server=server,
                    endpoint=endpoint,
                    material=material,
                    timeout=timeout,
                    expect_leaf=kind == "heartbeat",
                )
            )
        except KeyError:
            if skip_missing:
                continue
            raise
    return out
