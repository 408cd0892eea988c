"""Fixtures for the lab tests; the helpers live in labkit.py."""

from __future__ import annotations

import pytest
from labkit import Deployment, make_deployment


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return make_deployment()
