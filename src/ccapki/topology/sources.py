"""Where an identity's certificate comes from: :class:`Source`, apart from the deployment
model (:mod:`ccapki.topology.model` exports it too) so that the store's records name it
without loading the model (~17 ms that ``inspect FILE`` and reading commands need not
pay)."""

from __future__ import annotations

import enum

__all__ = ["Source"]


class Source(enum.StrEnum):
    """Where an identity's certificate comes from."""

    SELF_SIGNED = "self-signed"  # the release's own temporary certificate
    PERFIGO = "perfigo"  # pre-4.7 style: one vendor-like root signs every appliance
    INTERNAL = "internal"  # our root CA + intermediate signing CA
    THIRD_PARTY = "third-party"  # a CSR goes to an outside CA
