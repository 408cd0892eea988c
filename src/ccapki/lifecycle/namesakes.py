"""The other deployments of a store that a deployment file's appliances belong to.

A deployment's name (``[deployment] name``) is its key in the store: a file whose name was
changed is applied as a new deployment, with new CAs (named as the old ones are) and new
certificates for the same appliances, beside the old deployment. That is what an
administrator tidying the name does not expect. :func:`same_appliances` finds it before
anything is written: the deployments the store holds, other than the file's, whose planned
DNS names or IP addresses the file plans too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = ["SameAppliances", "same_appliances", "same_appliances_words"]


@dataclass(frozen=True)
class SameAppliances:
    """Another deployment of the store that plans names this file plans too."""

    deployment: str
    #: the DNS names and IP addresses both plan, sorted (names, then addresses)
    names: tuple[str, ...]


def same_appliances(store: Store, deployment: Deployment) -> list[SameAppliances]:
    """The store's other deployments whose last applied file plans any DNS name
    ``deployment`` plans (of a file naming no host: any IP address), most shared names
    first; empty when the file's own deployment is held (an apply of it is no new
    deployment) or none shares a name. Reads only."""
    from ccapki.lifecycle.certfiles import plan_names
    from ccapki.lifecycle.status import latest_names

    held = store.deployments.names()
    if deployment.name in held:
        return []
    mine = {n.lower() for spec in deployment.identities for n in plan_names(spec)}
    # two sites may number their appliances alike (private addresses behind their own
    # networks), not name them alike: the host names decide, the addresses only for a
    # file that names no host
    hosts = {n for n in mine if not _address(n)}
    out: list[SameAppliances] = []
    for other in held:
        with store.scoped(other):
            kept = store.deployments.latest()
        if kept is None:
            continue
        theirs = {
            n.lower() for joined in latest_names(kept).values() for n in joined.split(",") if n
        }
        shared = mine & theirs
        if hosts and not shared & hosts:
            continue
        if shared:
            # host names first, then addresses
            ordered = sorted(shared, key=lambda n: (_address(n), n))
            out.append(SameAppliances(other, tuple(ordered)))
    out.sort(key=lambda s: (-len(s.names), s.deployment))
    return out


def _address(name: str) -> bool:
    """Whether a planned name is an IP address (else a DNS name)."""
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def same_appliances_words(file: str, deployment: Deployment, found: SameAppliances) -> str:
    """What applying ``file`` would do to the appliances of ``found``, in one sentence."""
    more = len(found.names) - 3
    shown = ", ".join(found.names[:3]) + (f" +{more}" if more > 0 else "")
    return (
        f"{file} names deployment {deployment.name!r}, which this store does not hold, but "
        f"deployment {found.deployment!r} plans the same appliances ({shown}): applying it "
        "makes a second, separate PKI for them (new CAs named as that deployment's, new "
        "certificates), beside the first"
    )
