"""TLS plumbing shared by the prober and the lab: contexts from in-memory PEM, error wording.

Public: :func:`client_context` and :func:`server_context` build ``ssl.SSLContext`` objects
from PEM bytes (TLS 1.2 minimum, every trust-store certificate an anchor, optionally
``VERIFY_X509_STRICT``); :func:`load_chain_into` loads a chain and key without a key file;
:func:`peer_chain_der` reads what a peer presented; :func:`describe_error` turns a connection
or TLS exception into a :class:`TlsFailure`; :func:`observer_context` only reads what a server
presents (``ccapki probe``).

Private keys stay in memory. ``ssl.SSLContext.load_cert_chain`` only reads files, so on Linux
the certificate chain and key are written to an anonymous ``memfd`` (a file that lives in RAM,
has no name in any file system and vanishes when closed) and loaded through
``/proc/self/fd/N``. Elsewhere the key is encrypted under a random one-time password, written
0600 into a private 0700 temporary folder, loaded with ``password=`` and deleted at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = [
    "TlsFailure",
    "client_context",
    "describe_error",
    "leaf_der",
    "load_chain_into",
    "observer_context",
    "peer_chain_der",
    "server_context",
    "sha256_hex",
]

_MIN_VERSION = ssl.TLSVersion.TLSv1_2


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` (a certificate's DER: its fingerprint) as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def leaf_der(cert_chain_pem: bytes) -> bytes:
    """DER of the first certificate in a PEM chain.

    Raises ``ValueError`` when ``cert_chain_pem`` holds no valid PEM certificate.
    """
    return x509.load_pem_x509_certificates(cert_chain_pem)[0].public_bytes(
        serialization.Encoding.DER
    )


def load_chain_into(ctx: ssl.SSLContext, cert_chain_pem: bytes, key_pem: bytes) -> None:
    """Load a certificate chain and an unencrypted PEM key into ``ctx`` without a key file.

    Returns nothing; raises ``ssl.SSLError`` when the chain or key is invalid or the key
    does not match the leaf certificate.
    """
    blob = cert_chain_pem.rstrip(b"\n") + b"\n" + key_pem
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        fd = memfd_create("ccapki-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, blob)
            ctx.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    _load_via_private_file(ctx, cert_chain_pem, key_pem)  # pragma: no cover - non-Linux


def _load_via_private_file(
    ctx: ssl.SSLContext, cert_chain_pem: bytes, key_pem: bytes
) -> None:  # pragma: no cover - exercised only where memfd is missing
    password = secrets.token_bytes(32)
    key = serialization.load_pem_private_key(key_pem, password=None)
    enc = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    folder = tempfile.mkdtemp(prefix="ccapki-tls-")  # mode 0700
    try:
        path = Path(folder) / "identity.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(cert_chain_pem.rstrip(b"\n") + b"\n" + enc)
        ctx.load_cert_chain(path, password=password)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _apply_verify(ctx: ssl.SSLContext, trust_pem: bytes | None, *, strict: bool) -> None:
    if trust_pem is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    elif trust_pem.strip():
        ctx.load_verify_locations(cadata=trust_pem.decode("ascii"))
    # Every certificate in a trust store is an anchor, as in the appliances' Java trust
    # managers and in cryptography's verifier, so the live and offline verdicts agree.
    flags = ctx.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN
    if strict:
        flags |= ssl.VERIFY_X509_STRICT
    ctx.verify_flags = flags


def server_context(
    cert_chain_pem: bytes,
    key_pem: bytes,
    *,
    trust_pem: bytes | None = None,
    require_client_cert: bool = False,
    strict: bool = True,
) -> ssl.SSLContext:
    """A TLS server context presenting ``cert_chain_pem`` (leaf first) with ``key_pem``.

    With ``require_client_cert`` it does mutual TLS against ``trust_pem`` (no anchors: every
    client certificate is refused); ``strict`` adds ``VERIFY_X509_STRICT``. Raises
    ``ssl.SSLError`` for an invalid chain, key or trust store.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _MIN_VERSION
    load_chain_into(ctx, cert_chain_pem, key_pem)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        _apply_verify(ctx, trust_pem or b"", strict=strict)
    return ctx


def client_context(
    trust_pem: bytes | None,
    *,
    cert_chain_pem: bytes | None = None,
    key_pem: bytes | None = None,
    check_hostname: bool = True,
    verify: bool = True,
    strict: bool = True,
) -> ssl.SSLContext:
    """A TLS client context trusting ``trust_pem`` (None: the system store), optionally
    presenting a client certificate (``cert_chain_pem`` with ``key_pem``).

    ``check_hostname`` checks the server name against the SAN only; ``verify=False`` only
    reads what the peer presents. Raises ``ssl.SSLError`` for an invalid trust store, chain
    or key.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = _MIN_VERSION
    if verify:
        ctx.check_hostname = check_hostname
        # names come from the SAN only, as browsers and cryptography's verifier require
        ctx.hostname_checks_common_name = False
        _apply_verify(ctx, trust_pem, strict=strict)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_chain_pem is not None and key_pem is not None:
        load_chain_into(ctx, cert_chain_pem, key_pem)
    return ctx


def observer_context(
    *, cert_chain_pem: bytes | None = None, key_pem: bytes | None = None
) -> ssl.SSLContext:
    """A TLS client context that only reads what a server presents: no verification, no
    name check, and every protocol version and cipher this OpenSSL can still speak (TLS 1.0
    up, security level 0), so an old appliance shows its certificate too. Nothing it sees is
    trusted. Optionally presents a client certificate (``cert_chain_pem`` with ``key_pem``).

    Raises ``ssl.SSLError`` for an invalid chain or key.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):  # a build without the old versions
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED  # TLSv1 itself warns
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if cert_chain_pem is not None and key_pem is not None:
        load_chain_into(ctx, cert_chain_pem, key_pem)
    return ctx


def peer_chain_der(ssl_object: object) -> tuple[bytes, ...]:
    """The certificate chain the peer presented, leaf first, as DER.

    Python 3.13 has ``get_unverified_chain()``; 3.10-3.12 have it on the private
    ``_sslobj``; older versions give only the leaf.
    """
    for holder in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        fn = getattr(holder, "get_unverified_chain", None)
        if fn is None:
            continue
        with contextlib.suppress(Exception):
            certs = fn() or []
            out = []
            for c in certs:
                out.append(c if isinstance(c, bytes) else c.public_bytes(2))  # 2: DER
            return tuple(out)
    getpeercert = getattr(ssl_object, "getpeercert", None)
    if getpeercert is not None:
        der = getpeercert(binary_form=True)
        if der:
            return (der,)
    return ()


@dataclass(frozen=True)
class TlsFailure:
    """A failure explained: a kind, one readable line, and the verifier's code if any."""

    kind: str  # refused | timeout | verify | rejected | tls | reset | closed | dns | error
    #          (the observer adds not-tls: something answered, not in TLS)
    message: str
    verify_code: int | None = None
    verify_message: str | None = None


def describe_error(exc: BaseException) -> TlsFailure:
    """Turn a connection or TLS exception into a :class:`TlsFailure` (never raises)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code if isinstance(exc.verify_code, int) else None
        vmsg = str(exc.verify_message) if exc.verify_message else None
        text = vmsg or exc.reason or str(exc)
        return TlsFailure("verify", f"certificate verify failed: {text}", code, vmsg)
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower().replace("_", " ")
        if "alert" in reason:
            return TlsFailure("rejected", f"peer refused the handshake: {reason}")
        return TlsFailure("tls", f"TLS error: {reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return TlsFailure("refused", "connection refused")
    if isinstance(exc, TimeoutError):
        return TlsFailure("timeout", "timeout")
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return TlsFailure("reset", "connection reset by peer")
    if isinstance(exc, EOFError | ConnectionAbortedError):
        return TlsFailure("closed", "connection closed by peer")
    if isinstance(exc, OSError) and exc.__class__.__name__ == "gaierror":
        return TlsFailure("dns", f"name not resolved: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        return TlsFailure("error", exc.strerror or str(exc) or type(exc).__name__)
    return TlsFailure("error", str(exc) or type(exc).__name__)
