"""Fixtures for the trust engine tests: certificates minted by ``kit.certs.mint`` at noon.

The trust tests run at noon on the kit's day (their expected texts name the times that
follow from it), so ``NOW`` and ``mint`` here are the kit's, moved to 12:00. Defective
certificates (expired, no SAN, wrong EKU, SHA-1, ...) are minted with the knob that breaks
them.
"""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from kit import certs
from kit.certs import MintedChain, minted_chain

NOW = certs.NOW + dt.timedelta(hours=12)
mint = functools.partial(certs.mint, now=NOW)


@pytest.fixture
def pki() -> MintedChain:
    """An internal PKI, fresh for each test: root -> intermediate -> cas1.example.com."""
    return minted_chain(now=NOW)
