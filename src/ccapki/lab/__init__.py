"""The lab: emulated CAM and CAS appliances over real TLS on loopback.

Every channel of a Clean Access deployment runs for real: each appliance's control endpoint
(mutual TLS), the HA heartbeat (mutual TLS keyed by the pair identity), each CAS's agent and
web-login endpoints and each appliance's management GUI (HTTPS). The CAS -> CAM status
exchange and the heartbeats run periodically; their outcome is in :meth:`Lab.status`.

Inputs are plain values (:class:`LabSpec`, :class:`ApplianceSpec`, :class:`EndpointMaterial`)
so any caller (CLI, demo, tests) can build them; :mod:`ccapki.lab.daemon` runs a lab as one
supervised background process.
"""

import logging

from ccapki.lab._lab import Lab
from ccapki.lab._pages import WEB_LOGIN_TITLE
from ccapki.lab._spec import ApplianceSpec, EndpointMaterial, HaRole, LabSpec, Role
from ccapki.lab._status import (
    HA_BROKEN,
    NOT_CONNECTED,
    ApplianceStatus,
    EndpointStatus,
    LabStatus,
    LinkStatus,
    PairStatus,
)
from ccapki.lab._targets import failover_targets, live_targets

__all__ = [
    "HA_BROKEN",
    "NOT_CONNECTED",
    "WEB_LOGIN_TITLE",
    "ApplianceSpec",
    "ApplianceStatus",
    "EndpointMaterial",
    "EndpointStatus",
    "HaRole",
    "Lab",
    "LabSpec",
    "LabStatus",
    "LinkStatus",
    "PairStatus",
    "Role",
    "failover_targets",
    "live_targets",
]

# A library does not print: the daemon (or the CLI) attaches handlers.
logging.getLogger("ccapki.lab").addHandler(logging.NullHandler())
