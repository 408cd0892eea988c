"""Probe targets for every channel of a running lab, connecting as each channel's client."""

from __future__ import annotations

from ccapki.lab._lab import link_definitions
from ccapki.lab._spec import LabSpec
from ccapki.lab._status import LabStatus
from ccapki.probe import ProbeTarget

__all__ = ["live_targets"]


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
    appliances: only the endpoints the deployment file names are probed).
    """
    out: list[ProbeTarget] = []
    for d in link_definitions(spec):
        client = spec.appliance(d.client)
        server = spec.appliance(d.server)
        m = client.heartbeat_material if d.material == "heartbeat" else client.identity
        try:
            ep = status.endpoint(d.server, d.endpoint)
        except KeyError:
            if skip_missing:  # a real appliance whose endpoint the deployment does not give
                continue
            raise
        out.append(
            ProbeTarget(
                ep.host,
                ep.port,
                server.peer_name if spec.check_peer_names else None,
                m.trust_pem,
                client_cert_pem=m.cert_chain_pem,
                client_key_pem=m.key_pem,
                purpose=d.kind,
                label=d.name,
                timeout=timeout,
                strict_x509=spec.strict_x509,
                expect_leaf_sha256=m.fingerprint if d.kind == "heartbeat" else None,
            )
        )
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
            )
        )
    return out
