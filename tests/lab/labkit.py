"""Shared helpers for the lab and probe tests: real certificates minted at test time.

The clock is fixed at NOW. OpenSSL checks validity against the wall clock (Python's ssl
module cannot set a verification time), so NOW must not lie in the future of the machine
running the tests: 2026-11-27 is when these tests were written, certificates minted from it
are valid for a year and more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ccapki.lab import ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine to completion with a hard time bound."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Ca:
    root: x509.Certificate
    issuer: Issuer  # the signing CA (an intermediate, or the root itself)
    chain: tuple[x509.Certificate, ...]  # what a leaf sends after itself

    @property
    def root_pem(self) -> bytes:
        return pem(self.root)


def make_ca(name: str, *, intermediate: bool = True) -> Ca:
    root_key = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca(f"{name} Root CA", root_key, now=NOW, days=3650, organization=name)
    if not intermediate:
        return Ca(root, Issuer(root, root_key), ())
    ikey = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, root_key),
        f"{name} Issuing CA",
        ikey.public_key(),
        now=NOW,
        days=1825,
        organization=name,
    )
    return Ca(root, Issuer(inter, ikey), (inter,))


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...]

    @property
    def cert_pem(self) -> bytes:
        return pem(self.cert)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(pem(c) for c in (self.cert, *self.chain))

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def material(self, trust: bytes) -> EndpointMaterial:
        return EndpointMaterial(self.chain_pem, self.key_pem, trust)


def issue(
    ca: Ca | None,
    common_name: str,
    dns: tuple[str, ...] = (),
    *,
    now: dt.datetime = NOW,
    days: int = 365,
    ips: tuple[str, ...] = ("127.0.0.1",),
) -> Leaf:
    """An appliance identity (serverAuth + clientAuth) signed by ``ca``, or self-signed."""
    key = generate_key(KeyType.ECDSA_P256)
    req = IdentityRequest(
        common_name,
        dns_names=dns or (common_name,),
        ip_addresses=tuple(ipaddress.ip_address(i) for i in ips),
    )
    if ca is None:
        cert = issue_identity(req, key.public_key(), now=now, days=days, self_key=key)
        return Leaf(cert, key, ())
    cert = issue_identity(req, key.public_key(), now=now, days=days, issuer=ca.issuer)
    return Leaf(cert, key, ca.chain)


@dataclass(frozen=True)
class Deployment:
    """1 CAM, 1 CAS HA pair (cas1a primary, cas1b secondary), 1 standalone CAS (cas2),
    internal PKI: every identity signed by one issuing CA, every trust store holds its root."""

    ca: Ca
    cam: Leaf
    pair: Leaf
    cas2: Leaf

    @property
    def trust(self) -> bytes:
        return self.ca.root_pem

    def spec(self, **changes: Any) -> LabSpec:
        t = self.trust
        apps = (
            ApplianceSpec("cam", "cam", self.cam.material(t), hostname="cam.example.edu"),
            ApplianceSpec(
                "cas1a",
                "cas",
                self.pair.material(t),
                hostname="cas1a.example.edu",
                pair="cas-ha1",
                ha_role="primary",
            ),
            ApplianceSpec(
                "cas1b",
                "cas",
                self.pair.material(t),
                hostname="cas1b.example.edu",
                pair="cas-ha1",
                ha_role="secondary",
            ),
            ApplianceSpec("cas2", "cas", self.cas2.material(t), hostname="cas2.example.edu"),
        )
        spec = LabSpec(apps, link_interval=60.0, link_timeout=3.0)
        return replace(spec, **changes) if changes else spec


def make_deployment() -> Deployment:
    ca = make_ca("Campus")
    return Deployment(
        ca=ca,
        cam=issue(ca, "cam.example.edu"),
        pair=issue(
            ca,
            "cas-ha1.example.edu",
            ("cas-ha1.example.edu", "cas1a.example.edu", "cas1b.example.edu"),
        ),
        cas2=issue(ca, "cas2.example.edu"),
    )


def with_appliance(spec: LabSpec, name: str, **changes: Any) -> LabSpec:
    """The spec with one appliance changed."""
    apps = tuple(replace(a, **changes) if a.name == name else a for a in spec.appliances)
    return replace(spec, appliances=apps)


def write_deployment_files(folder: str, d: Deployment) -> None:
    """PEM files a test loader reads (the daemon's loader mode)."""
    from pathlib import Path

    f = Path(folder)
    f.mkdir(parents=True, exist_ok=True)
    f.joinpath("root.pem").write_bytes(d.trust)
    for name, leaf in (("cam", d.cam), ("pair", d.pair), ("cas2", d.cas2)):
        f.joinpath(f"{name}.pem").write_bytes(leaf.chain_pem)
        f.joinpath(f"{name}.key").write_bytes(leaf.key_pem)
        os.chmod(f / f"{name}.key", 0o600)


def load_from_folder(folder: str, trust_file: str = "root.pem") -> LabSpec:
    """A spec loader for the daemon (``labkit:load_from_folder``), reading PEM files."""
    from pathlib import Path

    f = Path(folder)
    trust = f.joinpath(trust_file).read_bytes()

    def mat(name: str) -> EndpointMaterial:
        return EndpointMaterial(
            f.joinpath(f"{name}.pem").read_bytes(), f.joinpath(f"{name}.key").read_bytes(), trust
        )

    apps = (
        ApplianceSpec("cam", "cam", mat("cam"), hostname="cam.example.edu"),
        ApplianceSpec(
            "cas1a",
            "cas",
            mat("pair"),
            hostname="cas1a.example.edu",
            pair="cas-ha1",
            ha_role="primary",
        ),
        ApplianceSpec(
            "cas1b",
            "cas",
            mat("pair"),
            hostname="cas1b.example.edu",
            pair="cas-ha1",
            ha_role="secondary",
        ),
        ApplianceSpec("cas2", "cas", mat("cas2"), hostname="cas2.example.edu"),
    )
    return LabSpec(apps, link_interval=0.5, link_timeout=3.0)


class LabThread:
    """A lab running on its own event loop in a background thread, for tests that drive
    blocking external programs (openssl, gnutls-cli, chromium). Always used as a context
    manager, so the lab and the thread stop at the end even when the test fails."""

    def __init__(self, spec: LabSpec) -> None:
        import threading

        from ccapki.lab import Lab

        self.lab = Lab(spec)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def __enter__(self) -> LabThread:
        self._thread.start()
        try:
            self.call(self.lab.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def status(self) -> Any:
        async def get() -> Any:
            return self.lab.status()

        return self.call(get())

    def __exit__(self, *exc: object) -> None:
        try:
            if self.lab.running:
                self.call(self.lab.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
