"""One case where the stacks part, predicted offline and proven by real handshakes.

The case: a third-party root made the way ``openssl req -x509`` makes it (CA:TRUE, SKI/AKI,
no keyUsage) signs a CAS certificate. Web-PKI (cryptography, OpenSSL's X509_STRICT) refuses
the root; the appliances' Java PKIX and Chromium accept it. :func:`keyusage_less_root`
gives ccapki's verdict per stack (:func:`ccapki.trust.verify_for_stack`) beside the verdict
of the real stack where one runs here: OpenSSL strict and default (Python's ``ssl``) and
Java JSSE (one JVM, when ``java`` is installed), each a client handshaking with a real TLS
server on 127.0.0.1 that presents the certificate.

    rows = asyncio.run(keyusage_less_root(now))
    all(r.agrees for r in rows)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.probe import ProbeTarget, probe
from ccapki.probe.tls import server_context
from ccapki.trust import Stack, verify_for_stack

__all__ = ["CASE_HOST", "StackRow", "keyusage_less_root"]

CASE_HOST = "cas-annex.example.edu"
_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class StackRow:
    """One stack's verdict on the case: ``predicted`` by ccapki offline, ``live`` by the real
    stack (None: it cannot run here). ``judges``: the channels it decides in the field.
    ``detail``: the first finding (or warning) ccapki gives, or the live error."""

    stack: Stack
    judges: str
    predicted: bool
    live: bool | None
    detail: str

    @property
    def agrees(self) -> bool:
        """The live verdict (when there is one) is the predicted one."""
        return self.live is None or self.live == self.predicted


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _mint(now: dt.datetime) -> tuple[x509.Certificate, x509.Certificate, bytes]:
    """The plain root, the CAS certificate it signs, and that certificate's key (PEM)."""
    root_key = rsa.generate_private_key(65537, 2048)
    pub = root_key.public_key()
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Plain Third Party Root"))
        .issuer_name(_name("Plain Third Party Root"))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pub), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(CASE_HOST))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CASE_HOST)]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pub), False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        )
        .sign(root_key, hashes.SHA256())
    )
    key_pem = leaf_key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return root, leaf, key_pem


def _first(v_findings: tuple[str, ...]) -> str:
    return v_findings[0] if v_findings else "no finding"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.read(1), 3.0)
    writer.close()


async def keyusage_less_root(now: dt.datetime, *, java: bool | None = None) -> list[StackRow]:
    """ccapki's verdicts on the case and the real stacks' (``java``: run the JVM; default:
    when ``java`` and ``javac`` are installed)."""
    from ccapki.lab.jsse import JsseHarness, java_available

    root, leaf, key_pem = _mint(now)
    root_pem = root.public_bytes(_PEM)
    judged = {
        Stack.WEBPKI: "(cryptography's web-PKI profile)",
        Stack.OPENSSL_STRICT: "(OpenSSL with X509_STRICT)",
        Stack.OPENSSL_DEFAULT: "(OpenSSL default)",
        Stack.JAVA_PKIX: "cam-cas",
        Stack.CHROMIUM: "web-login, admin-gui",
    }
    predicted = {
        s: verify_for_stack(s, leaf, [], [root], peer_name=CASE_HOST, at=now) for s in judged
    }
    ctx = server_context(leaf.public_bytes(_PEM), key_pem, strict=False)
    server = await asyncio.start_server(_handle, "127.0.0.1", 0, ssl=ctx)
    port = int(server.sockets[0].getsockname()[1])
    live: dict[Stack, tuple[bool, str]] = {}
    try:
        for stack, strict in ((Stack.OPENSSL_STRICT, True), (Stack.OPENSSL_DEFAULT, False)):
            r = await probe(
                ProbeTarget("127.0.0.1", port, CASE_HOST, root_pem, strict_x509=strict, timeout=5.0)
            )
            live[stack] = (r.ok, r.error or "")
        if java if java is not None else java_available():
            async with JsseHarness() as jvm:
                j = await jvm.connect(
                    "127.0.0.1", port, server_name=CASE_HOST, trust_pem=root_pem, timeout=5.0
                )
            live[Stack.JAVA_PKIX] = (j.ok, j.error or "")
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)
    rows = []
    for stack, judges in judged.items():
        v = predicted[stack]
        said = _first(tuple(f.reason for f in (v.errors or v.warnings)))
        got = live.get(stack)
        detail = said if got is None or got[0] else f"{said} | live: {got[1]}"
        rows.append(StackRow(stack, judges, v.ok, None if got is None else got[0], detail))
    return rows
