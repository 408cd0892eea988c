"""Workflows that join the pure core to the store: apply the plan, CSRs, imports,
exports, trust, live verification, the lab's spec, backups and recovery kits.

The public names live in the submodules (each with its own ``__all__``); scripts use the
facade :mod:`ccapki.api`, which calls them.
"""

__all__ = [
    "acme",
    "adopted",
    "apply",
    "backups",
    "cakeys",
    "catoken",
    "certfiles",
    "csrdelivery",
    "cursors",
    "doctor",
    "exports",
    "heartbeat",
    "importing",
    "inventory",
    "labspec",
    "metrics",
    "namesakes",
    "notify",
    "probing",
    "renew",
    "stackproof",
    "status",
    "status_pages",
    "trustops",
    "verify",
    "watch",
]
