"""Shared fixtures: a PKI minted at test time from a fixed clock, and ``require_tool``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    inter: x509.Certificate
    inter_key: CertificateIssuerPrivateKeyTypes
    leaf: x509.Certificate
    leaf_key: CertificateIssuerPrivateKeyTypes

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return (self.inter, self.root)


def make_pki(
    key_type: KeyType = KeyType.ECDSA_P256,
    name: str = "cas1.example.org",
    root_name: str = "Example Root CA",
) -> Pki:
    root_key = generate_key(key_type)
    root = make_root_ca(root_name, root_key, now=NOW, days=3650, organization="Example")
    inter_key = generate_key(key_type)
    inter = make_intermediate_ca(
        Issuer(root, root_key), f"{root_name} Issuing", inter_key.public_key(), now=NOW, days=1825
    )
    leaf_key = generate_key(key_type)
    request = IdentityRequest(name, dns_names=(name, "localhost"))
    leaf = issue_identity(
        request, leaf_key.public_key(), now=NOW, days=365, issuer=Issuer(inter, inter_key)
    )
    return Pki(root, root_key, inter, inter_key, leaf, leaf_key)


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="session")
def rsa_pki() -> Pki:
    return make_pki(KeyType.RSA_2048, name="cam.example.org", root_name="RSA Root CA")
