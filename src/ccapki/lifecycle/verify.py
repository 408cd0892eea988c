"""Live verification: every channel probed by real handshakes, held against the offline verdict.

The probes connect as each channel's real client would (trust store, client certificate,
name to check) to the lab or to the real appliances' endpoints the deployment file gives.
Each probe counts for both ends of its link (an HTTPS endpoint: for its appliance only); a
cell (appliance, channel) passes live when every probe counting for it passed, and must then
agree with :func:`ccapki.lifecycle.trustops.check_deployment`'s handshake verdict. A cell is
not compared when no TLS verdict was reached on the store's certificate (the endpoint was
unreachable, or it serves another certificate than the store's), nor when one of its links
could not be probed at all (a real appliance without that endpoint in the deployment file):
such a cell is "not probed", though its failed probes are still findings. The lab's HA
heartbeat cells are judged by strongSwan when it can run here (root, strongSwan installed):
each pair negotiates IKEv2 both ways (:mod:`ccapki.lifecycle.heartbeat`), in place of the
lab's TLS emulation of the heartbeat, which judges them otherwise.

    with env.open_store() as store:
        spec, inv = build_spec(store, dep), load_inventory(store, dep)
    report = verify_live(spec, inv, real_endpoints_status(dep), now=now, real=True)
    report.exit_code  # 0 all pass and agree, 1 findings, 3 live and offline disagree
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.errors import InputError
from ccapki.lab import EndpointStatus, LabSpec, LabStatus, failover_targets, live_targets
from ccapki.lab.ipsec import PairHeartbeat
from ccapki.lifecycle.heartbeat import lab_heartbeats
from ccapki.lifecycle.trustops import Inventory, check_deployment
from ccapki.probe import ProbeResult, ProbeTarget, probe_many
from ccapki.topology.model import Channel, Deployment
from ccapki.topology.releases import CHANNEL_STACKS
from ccapki.trust import required_anchor, verify_for_stack

__all__ = [
    "LiveCell",
    "LiveLink",
    "LiveReport",
    "LiveState",
    "LiveTarget",
    "UnprobedEndpoint",
    "real_endpoints_status",
    "uses_real_endpoints",
    "verify_live",
    "verify_live_async",
]

#: What ``verify --live --target`` probes: the lab, the real endpoints the deployment file
#: gives, or ``auto`` (the deployment's when it names any).
LiveTarget = Literal["auto", "lab", "deployment"]

#: probe failures where no TLS verdict was reached: nothing to compare with the offline one
_UNREACHABLE = frozenset({"refused", "timeout", "dns"})

#: The host given to endpoints a deployment file leaves out, only to list the probes they
#: would take (never probed).
_PLACEHOLDER = "unprobed.invalid"


class LiveState(enum.StrEnum):
    """What the live probes show for a cell."""

    PASSED = "pass"
    FAILED = "fail"
    NOT_PROBED = "not probed"  # a link of the cell could not be probed: never compared
    NOT_APPLICABLE = "n/a"  # no probe counts for the cell


@dataclass(frozen=True)
class LiveLink:
    """One probe, as it counts for the deployment: ``client`` (None: an endpoint or browser)
    connecting to ``server`` on ``channel``.

    ``error``: the line reported for a failure (None when it passed). ``comparable``: the
    result is a verdict on what the store holds (False: the endpoint was unreachable, it
    serves another certificate than the store's, or the lab serves other certificates or
    trust stores for it than the store holds now).
    """

    label: str
    client: str | None
    server: str
    channel: Channel
    ok: bool
    error: str | None = None
    comparable: bool = True
    verified: bool = True
    stack: str = "openssl-strict"


@dataclass(frozen=True)
class LiveCell:
    """One (appliance, channel) cell: the offline handshake verdict and the live one.

    ``offline``: None when the channel does not apply. ``errors``: every failed probe that
    counts for the cell. ``compared``: whether the live result was held against the offline
    one. ``agree``: whether both sides give the same verdict (``n/a`` against ``pass`` or
    ``fail`` is a disagreement); a cell not compared agrees. ``offline_stack``: the stack
    whose verdict the offline side models (``java-pkix``, ``chromium``...);
    ``live_stack``: the stack(s) that made the live handshakes (``openssl-default``,
    ``jsse``...), empty when nothing was probed. ``refusals``: the offline findings of a
    cell whose handshake passes but which client platforms refuse by policy (macOS and iOS
    rules no handshake here can show), or which the offline stack refuses while ccapki's
    model of the live stack accepts it as the live handshake did (Chromium's keyUsage check
    against OpenSSL's handshake): ``trust check`` fails the cell for them.
    """

    appliance: str
    channel: Channel
    offline: bool | None
    live: LiveState
    errors: tuple[str, ...] = ()
    compared: bool = True
    agree: bool = True
    offline_stack: str = ""
    live_stack: str = ""
    refusals: tuple[str, ...] = ()

    @property
    def probed(self) -> bool:
        """False when a link of the cell could not be probed (the cell is "not probed")."""
        return self.live is not LiveState.NOT_PROBED

    def to_dict(self) -> dict[str, Any]:
        """The cell as ``verify --live --json`` prints it."""
        return {
            "appliance": self.appliance,
            "channel": self.channel.value,
            "offline": "n/a" if self.offline is None else ("pass" if self.offline else "fail"),
            "live": self.live.value,
            "live_errors": list(self.errors),
            "compared": self.compared,
            "agree": self.agree,
            "offline_stack": self.offline_stack,
            "live_stack": self.live_stack,
            "refusals": list(self.refusals),
        }


@dataclass(frozen=True)
class UnprobedEndpoint:
    """An endpoint of a real appliance the deployment file does not give (never probed)."""

    appliance: str
    kind: str


@dataclass(frozen=True)
class LiveReport:
    """The outcome of :func:`verify_live`.

    ``appliances``: the deployment's appliances in file order; ``cells`` follow the offline
    matrix's order; ``probes``: how many real handshakes were made.
    """

    deployment: str
    appliances: tuple[str, ...]
    probes: int
    links: tuple[LiveLink, ...]
    cells: tuple[LiveCell, ...]
    unprobed_endpoints: tuple[UnprobedEndpoint, ...] = ()
    #: each HA pair's heartbeat negotiated by strongSwan (IKEv2), which judged its cells
    heartbeats: tuple[PairHeartbeat, ...] = ()
    #: why strongSwan did not judge the heartbeat cells (they are the lab's TLS emulation)
    ike_unavailable: str | None = None
    #: the appliances the lab serves other certificates or trust stores for than the store
    #: holds now (changed since `lab up` / `lab reload`): their links are not compared
    lab_outdated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No probe failed (a failed probe is a finding even in a cell that is not probed)."""
        return all(c.live is not LiveState.FAILED and not c.errors for c in self.cells)

    @property
    def agree(self) -> bool:
        """Live and offline verdicts agree in every compared cell."""
        return all(c.agree for c in self.cells)

    @property
    def disagreements(self) -> tuple[LiveCell, ...]:
        """The cells where live and offline differ (each one a ccapki bug)."""
        return tuple(c for c in self.cells if not c.agree)

    @property
    def not_probed(self) -> int:
        """How many cells are not probed."""
        return sum(not c.probed for c in self.cells)

    @property
    def exit_code(self) -> int:
        """0: all pass and agree; 1: findings; 3: live and offline disagree."""
        if not self.agree:
            return 3
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """The report as ``verify --live --json`` prints it."""
        return {
            "ok": self.ok,
            "agree": self.agree,
            "probes": self.probes,
            "cells": [c.to_dict() for c in self.cells],
            "unprobed_endpoints": [
                {"appliance": u.appliance, "kind": u.kind} for u in self.unprobed_endpoints
            ],
            "heartbeats": [h.to_dict() for h in self.heartbeats],
            "ike_unavailable": self.ike_unavailable,
            "lab_outdated": list(self.lab_outdated),
        }


def uses_real_endpoints(deployment: Deployment, target: LiveTarget) -> bool:
    """Whether ``target`` means the real endpoints the deployment file gives (``auto``: when
    it names any) rather than the lab."""
    if target == "deployment":
        return True
    return target == "auto" and any(a.endpoints for a in deployment.appliances)


def real_endpoints_status(deployment: Deployment) -> LabStatus:
    """The real appliances' endpoints the deployment file gives, in the lab's status shape
    (no links, appliances or pairs). The endpoints were checked when the file was loaded."""
    from ccapki.topology.loader import split_endpoint

    endpoints = []
    for spec in deployment.identities:
        for a in spec.members:
            for kind, address in a.endpoints:
                host, port = split_endpoint(address)
                endpoints.append(
                    EndpointStatus(
                        a.name,
                        kind,
                        host,
                        port,
                        # an appliance's own admin GUI by its own hostname, as offline
                        a.host if kind == "gui" else spec.common_name,
                        kind in ("control", "heartbeat"),
                    )
                )
    return LabStatus(True, tuple(endpoints), (), (), ())


def verify_live(
    spec: LabSpec,
    inventory: Inventory,
    status: LabStatus,
    *,
    now: dt.datetime,
    real: bool,
    concurrency: int = 64,
    lab_material: Mapping[str, str] | None = None,
) -> LiveReport:
    """Probe every channel of ``status``'s endpoints and compare with the offline verdicts.

    ``spec`` and ``inventory`` hold what the store has for the deployment
    (:func:`ccapki.lifecycle.labspec.build_spec`, :func:`~ccapki.lifecycle.trustops.
    load_inventory`); ``now`` is the offline check's clock. ``real``: ``status`` holds real
    appliances' endpoints (:func:`real_endpoints_status`), some of which may be missing: the
    cells they leave out are not probed. Without ``real`` every endpoint must be there (the
    lab's status). ``lab_material``: what the running lab serves per appliance
    (:meth:`LabSpec.material_digests` of its spec; None: unknown): an appliance whose
    certificates or trust stores differ from ``spec``'s is listed in
    :attr:`LiveReport.lab_outdated` and the probes of its endpoints are not compared.

    Returns a :class:`LiveReport`; network and TLS trouble are in it, never raised. Raises
    :class:`~ccapki.errors.InputError` when there is no endpoint to probe, ``KeyError`` when
    a lab status (``real`` False) lacks an endpoint of ``spec``. Runs its own event loop
    (see :func:`verify_live_async` inside one).
    """
    return asyncio.run(
        verify_live_async(
            spec,
            inventory,
            status,
            now=now,
            real=real,
            concurrency=concurrency,
            lab_material=lab_material,
        )
    )


async def verify_live_async(
    spec: LabSpec,
    inventory: Inventory,
    status: LabStatus,
    *,
    now: dt.datetime,
    real: bool,
    concurrency: int = 64,
    lab_material: Mapping[str, str] | None = None,
) -> LiveReport:
    """:func:`verify_live` for callers inside an event loop (same returns and raises)."""
    dep = inventory.deployment
    anchors = [
        required_anchor(c, inventory.cas) for s in dep.identities if (c := inventory.chain_of(s))
    ]
    client_pem = b"".join(a.public_bytes(serialization.Encoding.PEM) for a in anchors)
    targets = _targets(spec, status, client_pem, skip_missing=real)
    missing: list[UnprobedEndpoint] = []
    unprobed: list[ProbeTarget] = []
    if real:
        missing, unprobed = _unprobed(spec, status, client_pem, targets)
    if not targets:
        raise InputError(  # as `ccapki probe --target deployment` says it
            "no endpoint to probe: the deployment file gives none",
            'give endpoints = { control = "host:port", ... } per appliance in the deployment '
            "file, or verify the lab (`ccapki lab up`, then `ccapki verify --live`)",
        )
    # the lab's heartbeats by strongSwan (IKEv2) beside the probes; real appliances: probes
    ike = asyncio.ensure_future(lab_heartbeats(spec)) if not real else None
    results = await probe_many(targets, concurrency=concurrency)
    runs, ike_unavailable = await ike if ike else ({}, None)
    served = {
        m.name: ident.fingerprint
        for s in dep.identities
        if (ident := inventory.identities.get(s.name)) is not None
        for m in s.members
    }
    outdated: tuple[str, ...] = ()
    if lab_material is not None and not real:
        outdated = tuple(
            name for name, d in spec.material_digests().items() if lab_material.get(name) != d
        )
    links = tuple(_live_link(r, served, frozenset(outdated), real=real) for r in results)
    live = _live_cells(links, unprobed)
    _judge_heartbeats(spec, runs, live)
    offline = check_deployment(inventory, now, anchors)
    cells = []
    for cell in offline.cells:
        got = live.get((cell.appliance, cell.channel))
        want = cell.handshake_ok
        if want is False and got is not None and got.ok and got.verified:
            # the offline stack (Chromium, Windows) refuses what the live one accepted:
            # held against ccapki's model of the live stack, the refusal is the offline
            # stack's own (listed apart, as platform policies are), not a disagreement
            want = _live_stack_accepts(inventory, cell.appliance, cell.channel, got, anchors, now)
        if got is None:
            state = LiveState.NOT_APPLICABLE
        elif not got.probed:
            state = LiveState.NOT_PROBED
        elif not got.verified:  # TLS without verification (a CAM/CAS link before 4.5)
            state = LiveState.NOT_APPLICABLE if got.ok else LiveState.FAILED
        else:
            state = LiveState.PASSED if got.ok else LiveState.FAILED
        compared = state is not LiveState.NOT_PROBED and (got is None or got.compared)
        seen = None if state is LiveState.NOT_APPLICABLE else state is LiveState.PASSED
        cells.append(
            LiveCell(
                cell.appliance,
                cell.channel,
                want,
                state,
                got.errors if got else (),
                compared,
                not compared or seen == want,
                CHANNEL_STACKS[cell.channel.value],
                got.stacks if got else "",
                cell.findings if cell.ok is False and want else (),
            )
        )
    return LiveReport(
        dep.name,
        tuple(a.name for a in dep.appliances),
        len(results),
        links,
        tuple(cells),
        tuple(missing),
        tuple(runs.values()),
        ike_unavailable,
        outdated,
    )


# ---------------------------------------------------------------------------- internals


def _targets(
    spec: LabSpec, status: LabStatus, client_trust_pem: bytes, *, skip_missing: bool
) -> list[ProbeTarget]:
    """Every probe: the lab's links and HTTPS endpoints, then the failover links."""
    return [
        *live_targets(spec, status, client_trust_pem=client_trust_pem, skip_missing=skip_missing),
        *failover_targets(spec, status, skip_missing=skip_missing),
    ]


def _link_key(t: ProbeTarget) -> tuple[str, str | None, str | None, Channel | None]:
    return (t.purpose, t.client, t.server, t.channel)


def _unprobed(
    spec: LabSpec, status: LabStatus, client_trust_pem: bytes, probed: Sequence[ProbeTarget]
) -> tuple[list[UnprobedEndpoint], list[ProbeTarget]]:
    """Real appliances: the endpoints the deployment file does not give, and every probe
    they leave out (made on the status completed with placeholders, never probed)."""
    have = {(e.appliance, e.kind) for e in status.endpoints}
    missing = sorted({(a.name, k) for a in spec.appliances for k in a.endpoint_kinds} - have)
    if not missing:
        return [], []
    placeholders = tuple(
        EndpointStatus(name, kind, _PLACEHOLDER, 1, _PLACEHOLDER, False) for name, kind in missing
    )
    full = LabStatus(True, (*status.endpoints, *placeholders), (), (), ())
    made = {_link_key(t) for t in probed}
    every = _targets(spec, full, client_trust_pem, skip_missing=False)
    return (
        [UnprobedEndpoint(name, kind) for name, kind in missing],
        [t for t in every if _link_key(t) not in made],
    )


def _live_link(
    r: ProbeResult,
    served: Mapping[str, str],
    outdated: frozenset[str] = frozenset(),
    *,
    real: bool = False,
) -> LiveLink:
    """A probe result as it counts for the deployment. ``served``: appliance -> SHA-256 of
    the leaf certificate the store holds for it. ``outdated``: the appliances the lab serves
    other material for than the store holds (their probes are not compared). ``real``: the
    endpoints are real appliances' (a wrong certificate's fix is to install the store's
    identity there, not to reload a lab)."""
    t = r.target
    if t.server is None or t.channel is None:  # pragma: no cover - every target says both
        raise ValueError(f"probe {t.label!r} does not say which cell it counts for")
    if t.server in outdated:
        why = (
            f"{t.server} in the lab serves other certificates or trust stores than the store "
            "holds now: `ccapki lab reload`, then verify again"
        )
        return LiveLink(
            t.label,
            t.client,
            t.server,
            t.channel,
            r.ok,
            None if r.ok else f"{t.label}: {r.error} ({why})",
            comparable=False,
            verified=t.verify,
            stack=t.verifier,
        )
    if r.ok:
        return LiveLink(
            t.label, t.client, t.server, t.channel, True, verified=t.verify, stack=t.verifier
        )
    err = f"{t.label}: {r.error}"
    store_fp = served.get(t.server)
    if r.error_kind in _UNREACHABLE:
        return LiveLink(
            t.label,
            t.client,
            t.server,
            t.channel,
            False,
            f"{err} (unreachable: no handshake, nothing to compare)",
            comparable=False,
            verified=t.verify,
            stack=t.verifier,
        )
    if r.peer_fingerprint and store_fp is not None and store_fp != r.peer_fingerprint:
        return LiveLink(
            t.label,
            t.client,
            t.server,
            t.channel,
            False,
            f"{err} ({t.server} serves certificate {r.peer_fingerprint[:16]}, the store's is "
            f"{store_fp[:16]}: "
            + (
                f"install the store's identity on {t.server} (`ccapki export {t.server}`)"
                if real
                else "`ccapki lab reload`, or install the store's identity"
            )
            + ")",
            comparable=False,
            verified=t.verify,
            stack=t.verifier,
        )
    return LiveLink(
        t.label, t.client, t.server, t.channel, False, err, verified=t.verify, stack=t.verifier
    )


@dataclass(frozen=True)
class _Live:
    """The probes' verdict for one cell, before it meets the offline one."""

    ok: bool
    errors: tuple[str, ...]
    compared: bool
    probed: bool = True
    verified: bool = True  # some link of the cell verified its peer
    stacks: str = ""  # the stacks of its links, comma-separated


_CLIENT_CHANNELS = (Channel.AGENT, Channel.WEB_LOGIN, Channel.ADMIN_GUI)


def _live_stack_accepts(
    inventory: Inventory,
    appliance: str,
    channel: Channel,
    got: _Live,
    roots: Sequence[x509.Certificate],
    now: dt.datetime,
) -> bool:
    """A client channel's cell (agent, web login, admin GUI) whose live handshake was made
    by another stack than the one its offline verdict models: True when ccapki's model of
    that live stack (:func:`ccapki.trust.verify_for_stack`) accepts the appliance's chain
    for the name the client opens, as the live handshake did."""
    offline_stack = CHANNEL_STACKS[channel.value]
    if channel not in _CLIENT_CHANNELS or got.stacks in ("", offline_stack) or "," in got.stacks:
        return False
    for spec in inventory.deployment.identities:
        for member in spec.members:
            if member.name != appliance:
                continue
            chain = inventory.chain_of(spec)
            if not chain:
                return False
            name = member.host if channel is Channel.ADMIN_GUI else spec.common_name
            try:
                v = verify_for_stack(
                    got.stacks, chain[0], list(chain[1:]), list(roots), peer_name=name, at=now
                )
            except InputError:  # a live stack ccapki does not model
                return False
            return v.ok
    return False


def _ends(client: str | None, server: str, channel: Channel) -> Iterable[tuple[str, Channel]]:
    """The cells a link counts for: both ends (an HTTPS endpoint: its appliance only)."""
    if client is not None:
        yield (client, channel)
    yield (server, channel)


def _live_cells(
    links: Sequence[LiveLink], unprobed: Sequence[ProbeTarget]
) -> dict[tuple[str, Channel], _Live]:
    """(appliance, channel) -> the verdict of every link counting for it. A failed cell is
    compared when one of its failures reached a verdict on the store's certificate. Every
    cell an ``unprobed`` target counts for is not probed, never compared."""
    by_cell: dict[tuple[str, Channel], list[LiveLink]] = {}
    for link in links:
        for key in _ends(link.client, link.server, link.channel):
            by_cell.setdefault(key, []).append(link)
    cells: dict[tuple[str, Channel], _Live] = {}
    for key, group in by_cell.items():
        ok = all(x.ok for x in group)
        cells[key] = _Live(
            ok,
            tuple(x.error for x in group if x.error),
            (ok and all(x.comparable for x in group))
            or any(not x.ok and x.comparable for x in group),
            verified=any(x.verified for x in group),
            stacks=", ".join(sorted({x.stack for x in group if x.verified})),
        )
    for t in unprobed:
        if t.server is None or t.channel is None:  # pragma: no cover - every target says both
            continue
        for key in _ends(t.client, t.server, t.channel):
            got = cells.get(key)
            cells[key] = _Live(
                got.ok if got else True,
                got.errors if got else (),
                compared=False,
                probed=False,
                stacks=got.stacks if got else "",
            )
    return cells


def _judge_heartbeats(
    spec: LabSpec, runs: Mapping[str, PairHeartbeat], live: dict[tuple[str, Channel], _Live]
) -> None:
    """Each HA pair strongSwan negotiated: its members' heartbeat cells take the IKE_AUTH
    verdict (both ways) in place of the lab's TLS emulation, unless the lab serves other
    material than the store there (strongSwan ran the store's: the lab's run stands, not
    compared)."""
    for pair, run in runs.items():
        for member in spec.pairs()[pair]:
            key = (member.name, Channel.HA_HEARTBEAT)
            got = live.get(key)
            if got is not None and not got.compared:
                continue
            live[key] = _Live(run.ok, run.errors, True, stacks="strongswan")
