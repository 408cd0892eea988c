"""Fixtures for the PKI tests: root -> issuing CA -> identity made by ccapki's own issuer."""

from __future__ import annotations

import pytest

from ccapki.pki.keys import KeyType
from kit.certs import Pki, make_pki


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="session")
def rsa_pki() -> Pki:
    return make_pki(KeyType.RSA_2048, name="cam.example.org", root_name="RSA Root CA")
