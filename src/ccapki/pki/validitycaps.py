"""How long clients let a TLS server certificate be valid: the caps the client policies
enforce.

:mod:`ccapki.trust._policy` builds its :class:`~ccapki.trust._policy.MaxValidity` rules from
these values (and decides there which platform refuses over which cap); they live apart so
that planning a file (``ccapki plan FILE``, which imports no cryptography) can say before
anything is issued which planned validity a client will refuse. Pure; imports nothing heavy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["APPLE_825", "CAPS", "PUBLIC_398", "ValidityCap", "longest_request"]


def longest_request(days: int) -> int:
    """The most ``validity_days`` a certificate ccapki issues may ask for under a cap of
    ``days``: it starts a few minutes early (:data:`ccapki.pki.issue.BACKDATE`), so a
    certificate of N days lasts a little over N days, and N = ``days`` is already over."""
    return days - 1


@dataclass(frozen=True)
class ValidityCap:
    """TLS server certificates issued from ``issued_from`` may be valid at most ``days``
    (``public_only``: only those from publicly trusted roots); ``source`` cites the rule."""

    days: int
    issued_from: dt.datetime
    source: str
    public_only: bool = False

    def __post_init__(self) -> None:
        if self.days < 2 or self.issued_from.tzinfo is None:
            raise ValueError("a validity cap is 2 days or more, from an aware time")

    @property
    def longest_request(self) -> int:
        """:func:`longest_request` of this cap."""
        return longest_request(self.days)


#: Apple HT210176 (iOS 13, macOS 10.15): TLS server certificates issued after 2019-07-01,
#: any root (user- and admin-trusted included), 825 days at most.
APPLE_825 = ValidityCap(
    825, dt.datetime(2019, 7, 1, tzinfo=dt.UTC), "Apple HT210176 (iOS 13, macOS 10.15)"
)
#: CA/B Forum BR 6.3.2 (ballot SC31) and Apple HT211025: issued on or after 2020-09-01 from
#: publicly trusted roots, 398 days at most.
PUBLIC_398 = ValidityCap(
    398,
    dt.datetime(2020, 9, 1, tzinfo=dt.UTC),
    "CA/B Forum Baseline Requirements 6.3.2; Apple HT211025",
    public_only=True,
)
#: Every cap a client policy enforces (each MaxValidity rule is one of these).
CAPS: tuple[ValidityCap, ...] = (APPLE_825, PUBLIC_398)
