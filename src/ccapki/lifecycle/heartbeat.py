"""The HA heartbeat proven by strongSwan: each HA pair's identity negotiated with IKEv2.

Joins the store to :mod:`ccapki.lab.ipsec`: the pair's certificate and key (both peers hold
them) and each member's trust store, as the lab spec carries them
(:func:`ccapki.lifecycle.labspec.build_spec`).

    with env.open_store() as store:
        run = identity_heartbeat(store, dep, "cas-ha")
    run.ok, run.errors, run.child_sa

``verify --live`` calls :func:`lab_heartbeats` to judge its heartbeat cells by strongSwan
when it can run here (root, strongSwan installed); otherwise those cells keep the lab's
TLS emulation of the heartbeat.
"""

from __future__ import annotations

import asyncio
import subprocess

from ccapki.errors import CcapkiError, NotFoundError
from ccapki.lab import LabSpec
from ccapki.lab.ipsec import PairHeartbeat, heartbeat_both_ways, ipsec_unavailable, pair_peers
from ccapki.store.session import Store
from ccapki.topology.model import Deployment

__all__ = ["identity_heartbeat", "lab_heartbeats", "run_pair_heartbeat"]


def run_pair_heartbeat(spec: LabSpec, pair: str, *, timeout: float = 10.0) -> PairHeartbeat:
    """HA pair ``pair`` of ``spec`` negotiated both ways (primary first). Raises
    :class:`~ccapki.errors.NotFoundError` for a pair ``spec`` lacks and
    :class:`~ccapki.errors.CcapkiError` when strongSwan cannot run here."""
    try:
        primary, secondary = pair_peers(spec, pair)
    except KeyError:
        raise NotFoundError(
            f"{pair} is not an HA pair of the deployment",
            f"name one of: {', '.join(sorted(spec.pairs())) or '(no HA pair)'}",
        ) from None
    return heartbeat_both_ways(primary, secondary, pair=pair, timeout=timeout)


def identity_heartbeat(
    store: Store, dep: Deployment, identity: str, *, timeout: float = 10.0
) -> PairHeartbeat:
    """The heartbeat of HA identity ``identity`` with what the store holds now: its
    certificate, chain and key on both peers, each peer's trust store. Raises as
    :func:`run_pair_heartbeat`, and :class:`~ccapki.errors.StoreError` when an identity of
    ``dep`` has no certificate yet."""
    from ccapki.lifecycle.labspec import build_spec

    return run_pair_heartbeat(build_spec(store, dep), identity, timeout=timeout)


async def lab_heartbeats(spec: LabSpec) -> tuple[dict[str, PairHeartbeat], str | None]:
    """Every HA pair of ``spec`` negotiated by strongSwan (the pairs in parallel): pair ->
    its run, and None; or ``{}`` and why strongSwan cannot judge the heartbeat here (the
    release has no certificate-keyed heartbeat, no root, a tool missing, a daemon that
    would not start)."""
    pairs = sorted(spec.pairs())
    if not spec.heartbeat or not pairs:
        return {}, "no certificate-keyed heartbeat"
    why = ipsec_unavailable()
    if why is not None:
        return {}, why
    try:
        runs = await asyncio.gather(
            *(asyncio.to_thread(run_pair_heartbeat, spec, p) for p in pairs)
        )
    except CcapkiError as exc:
        return {}, exc.message
    except (OSError, subprocess.SubprocessError) as exc:
        return {}, f"the strongSwan harness failed: {exc}"
    return dict(zip(pairs, runs, strict=True)), None
