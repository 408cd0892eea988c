"""What the lab reports: endpoints, links, appliances, HA pairs (frozen, JSON round-trip)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ApplianceStatus", "EndpointStatus", "LabStatus", "LinkStatus", "PairStatus"]

HA_BROKEN = "HA broken: both peers would go active"
NOT_CONNECTED = "Not connected"


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
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str | None:
        if self.kind in ("agent", "web-login", "gui"):
            return f"https://{self.host}:{self.port}/"
        return None


@dataclass(frozen=True)
class LinkStatus:
    """One appliance-to-appliance TLS link.

    ``kind``: ``status`` (CAS -> CAM periodic status exchange), ``control`` (CAM -> CAS) or
    ``heartbeat`` (HA secondary -> primary). ``ok`` is None until first checked. ``error`` is
    the client's view, ``server_error`` the server's (for example why it refused the client
    certificate).
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

    @property
    def state(self) -> str:
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
    """An HA pair: ``HA up`` or ``HA broken: both peers would go active``."""

    pair: str
    primary: str
    secondary: str
    ok: bool | None
    state: str
    error: str | None = None


@dataclass(frozen=True)
class LabStatus:
    running: bool
    endpoints: tuple[EndpointStatus, ...]
    links: tuple[LinkStatus, ...]
    appliances: tuple[ApplianceStatus, ...]
    pairs: tuple[PairStatus, ...]
    generated_at: str = ""

    @property
    def all_ok(self) -> bool:
        return all(link.ok for link in self.links)

    def link(self, name: str) -> LinkStatus:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def endpoint(self, appliance: str, kind: str) -> EndpointStatus:
        for e in self.endpoints:
            if e.appliance == appliance and e.kind == kind:
                return e
        raise KeyError((appliance, kind))

    def appliance(self, name: str) -> ApplianceStatus:
        for a in self.appliances:
            if a.name == name:
                return a
        raise KeyError(name)

    def pair(self, name: str) -> PairStatus:
        for p in self.pairs:
            if p.pair == name:
                return p
        raise KeyError(name)

    def broken_links(self) -> frozenset[str]:
        return frozenset(link.name for link in self.links if link.ok is False)

    def to_dict(self) -> dict[str, Any]:
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
        return cls(
            running=bool(data["running"]),
            generated_at=str(data.get("generated_at", "")),
            endpoints=tuple(EndpointStatus(**e) for e in data["endpoints"]),
            links=tuple(LinkStatus(**x) for x in data["links"]),
            appliances=tuple(ApplianceStatus(**a) for a in data["appliances"]),
            pairs=tuple(PairStatus(**p) for p in data["pairs"]),
        )


def utc_now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
