"""What the lab reports: endpoints, links, appliances, HA pairs (frozen, JSON round-trip)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "HA_BROKEN",
    "NOT_CONNECTED",
    "ApplianceStatus",
    "EndpointStatus",
    "LabStatus",
    "LinkStatus",
    "PairStatus",
    "utc_now_text",
]

HA_BROKEN = "HA broken: both peers would go active"
NOT_CONNECTED = "Not connected"
#: an HA pair on a release whose heartbeat is not keyed by the certificate (before 4.7)
NO_CERT_HEARTBEAT = "heartbeat not certificate-keyed before 4.7"


@dataclass(frozen=True)
class EndpointStatus:
    """One listening endpoint. ``kind``: control, heartbeat, agent, web-login or gui.
    ``mutual``: it requires and verifies a client certificate."""

    appliance: str
    kind: str
    host: str
    port: int
    server_name: str
    mutual: bool

    @property
    def address(self) -> str:
        """``host:port`` as the lab reports it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str | None:
        """``https://host:port/`` for an HTTPS endpoint (agent, web-login, gui); else None."""
        if self.kind in ("agent", "web-login", "gui"):
            return f"https://{self.host}:{self.port}/"
        return None


@dataclass(frozen=True)
class LinkStatus:
    """One appliance-to-appliance TLS link.

    ``kind``: ``status`` (CAS -> CAM periodic status exchange), ``control`` (CAM -> CAS) or
    ``heartbeat`` (HA secondary -> primary). ``ok`` is None until first checked. ``error`` is
    the client's view, ``server_error`` the server's (for example why it refused the client
    certificate). ``stack``: the verifier both ends of the link ran (``java-pkix``: the JVM's
    JSSE with PKIX trust managers; ``openssl-strict`` / ``openssl-default``: Python's ssl;
    ``strongswan``: a heartbeat negotiated by IKEv2 both ways, its address then the two
    network namespaces' addresses).
    """

    name: str
    kind: str
    client: str
    server: str
    address: str
    ok: bool | None
    error: str | None = None
    server_error: str | None = None
    verify_code: int | None = None
    checked_at: str | None = None
    handshake_seconds: float | None = None
    stack: str = ""

    @property
    def state(self) -> str:
        """``pending`` (not yet checked), ``up`` or ``down``."""
        if self.ok is None:
            return "pending"
        return "up" if self.ok else "down"


@dataclass(frozen=True)
class ApplianceStatus:
    """An appliance as its own GUI would show it. A CAS shows ``Connected`` or
    ``Not connected`` (with the TLS error in ``detail``)."""

    name: str
    role: str
    pair: str | None
    ha_role: str | None
    state: str
    detail: str | None = None


@dataclass(frozen=True)
class PairStatus:
    """An HA pair: ``HA up`` or ``HA broken: both peers would go active``.

    ``stack``: what produced the verdict: ``strongswan`` (a real IKEv2 negotiation both
    ways between two charon daemons, judged by IKE_AUTH) or the stack of the lab's TLS
    emulation of the heartbeat (``openssl-strict`` / ``openssl-default``); empty when no
    heartbeat ran. ``ike_unavailable``: why strongSwan did not judge it (the emulation did).
    """

    pair: str
    primary: str
    secondary: str
    ok: bool | None
    state: str
    error: str | None = None
    stack: str = ""
    ike_unavailable: str | None = None


@dataclass(frozen=True)
class LabStatus:
    """Everything the lab reports at ``generated_at``: endpoints, links, appliances, pairs."""

    running: bool
    endpoints: tuple[EndpointStatus, ...]
    links: tuple[LinkStatus, ...]
    appliances: tuple[ApplianceStatus, ...]
    pairs: tuple[PairStatus, ...]
    generated_at: str = ""

    @property
    def all_ok(self) -> bool:
        """Every link was checked and is up."""
        return all(link.ok for link in self.links)

    def link(self, name: str) -> LinkStatus:
        """The link named ``name``; raises ``KeyError`` if there is none."""
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def endpoint(self, appliance: str, kind: str) -> EndpointStatus:
        """``appliance``'s ``kind`` endpoint; raises ``KeyError`` if there is none."""
        for e in self.endpoints:
            if e.appliance == appliance and e.kind == kind:
                return e
        raise KeyError((appliance, kind))

    def appliance(self, name: str) -> ApplianceStatus:
        """The appliance named ``name``; raises ``KeyError`` if there is none."""
        for a in self.appliances:
            if a.name == name:
                return a
        raise KeyError(name)

    def pair(self, name: str) -> PairStatus:
        """The HA pair named ``name``; raises ``KeyError`` if there is none."""
        for p in self.pairs:
            if p.pair == name:
                return p
        raise KeyError(name)

    def broken_links(self) -> frozenset[str]:
        """The names of the links that are down (not yet checked links are not)."""
        return frozenset(link.name for link in self.links if link.ok is False)

    @property
    def links_up(self) -> bool:
        """No link is down (links not yet checked do not count)."""
        return all(link.ok is not False for link in self.links)

    def cas_not_connected(self) -> tuple[ApplianceStatus, ...]:
        """The CASes whose GUI does not show ``Connected``, in status order."""
        return tuple(
            a for a in self.appliances if a.role == "cas" and a.state.lower() != "connected"
        )

    def pairs_not_up(self) -> tuple[PairStatus, ...]:
        """The HA pairs that are not up (broken, or not yet checked), in status order."""
        return tuple(p for p in self.pairs if not p.ok)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (what ``lab status --json`` prints); :meth:`from_dict` reverses."""
        return {
            "running": self.running,
            "generated_at": self.generated_at,
            "endpoints": [asdict(e) for e in self.endpoints],
            "links": [asdict(x) for x in self.links],
            "appliances": [asdict(a) for a in self.appliances],
            "pairs": [asdict(p) for p in self.pairs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabStatus:
        """The status :meth:`to_dict` gave; raises ``KeyError`` or ``TypeError`` for
        another shape."""
        return cls(
            running=bool(data["running"]),
            generated_at=str(data.get("generated_at", "")),
            endpoints=tuple(EndpointStatus(**e) for e in data["endpoints"]),
            links=tuple(LinkStatus(**x) for x in data["links"]),
            appliances=tuple(ApplianceStatus(**a) for a in data["appliances"]),
            pairs=tuple(PairStatus(**p) for p in data["pairs"]),
        )


def utc_now_text() -> str:
    """Now, UTC, ISO 8601 to the second (the ``generated_at`` stamp)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
