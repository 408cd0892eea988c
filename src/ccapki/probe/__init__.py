"""Read-only asyncio TLS probing of live endpoints (lab or real appliances).

A probe connects the way a channel's client does (trust anchors, optional client certificate,
the name to check), does the handshake and, for HTTPS endpoints, at most one ``GET /``. It never
changes anything on the peer. It never raises for network trouble: an unreachable host, a
refused handshake or a timeout all come back as a failed :class:`ProbeResult`.

    result = await probe(ProbeTarget("127.0.0.1", 8443, server_name="cas1.example.edu",
                                     trust_pem=root_pem))
    results = await probe_many(targets, concurrency=64)

The TLS contexts and error wording the prober uses are public in :mod:`ccapki.probe.tls`
(the lab's servers use the same ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from ccapki.probe.tls import (
    client_context,
    describe_error,
    peer_chain_der,
    sha256_hex,
)
from ccapki.topology.model import Channel

__all__ = ["ProbeResult", "ProbeTarget", "probe", "probe_many"]

#: Targets whose ``stack`` is this are probed by a JSSE client in one JVM per
#: :func:`probe_many` call (:mod:`ccapki.lab.jsse`), as the appliances' Java verifies.
JAVA_STACK = "java-pkix"
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_MAX_HTTP = 256 * 1024


@dataclass(frozen=True)
class ProbeTarget:
    """What to probe and how the channel's client would connect.

    ``server_name`` is sent as SNI and checked against the certificate (None: no name check,
    no SNI). ``trust_pem`` holds the anchors (None: the system store). ``client_cert_pem`` and
    ``client_key_pem`` (unencrypted PEM, kept in memory) make it a mutual-TLS client.
    ``purpose`` names the channel (``control``, ``heartbeat``, ``agent``, ``web-login``,
    ``gui``...) and is carried into the result; ``http_get`` adds one ``GET /``.
    ``confirm_seconds``: after a TLS 1.3 handshake without HTTP, how long to wait for the
    server to refuse the client certificate (TLS 1.3 servers do so after the client's side
    of the handshake is done); 0 skips the wait. ``expect_leaf_sha256``: the peer must present
    exactly this certificate (SHA-256 of its DER), as HA peers sharing one identity do.

    ``client``, ``server`` and ``channel`` say which cell of a deployment the probe counts
    for: the appliance connecting (None: an endpoint or browser, not an appliance), the
    appliance probed, and the :class:`~ccapki.topology.model.Channel`. ``label`` is only
    for display (``status:cas1->cam``); nothing parses it. ``verify=False``: the channel's
    client does not verify the peer (a CAM/CAS link before 4.5): only the TLS connection is
    tested. ``stack``: the verifier the probe stands for (default: ``openssl-strict`` or
    ``openssl-default`` after ``strict_x509``), named in live reports.
    Raises ``ValueError`` for a port out of range, a client certificate without its key (or
    a key without its certificate) or a timeout that is not positive.
    """

    host: str
    port: int
    server_name: str | None = None
    trust_pem: bytes | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = field(default=None, repr=False)
    purpose: str = "tls"
    label: str = ""
    http_get: bool = False
    timeout: float = 5.0
    fetch_chain_on_failure: bool = True
    strict_x509: bool = True
    confirm_seconds: float = 0.2
    expect_leaf_sha256: str | None = None
    client: str | None = None
    server: str | None = None
    channel: Channel | None = None
    verify: bool = True
    stack: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if (self.client_cert_pem is None) != (self.client_key_pem is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @property
    def verifier(self) -> str:
        """The stack that judges this probe's handshake (see ``stack``)."""
        if self.stack:
            return self.stack
        return "openssl-strict" if self.strict_x509 else "openssl-default"

    @property
    def address(self) -> str:
        """``host:port``, an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe. ``ok`` is True when the handshake verified (and the HTTP
    request, if asked, got a response). ``peer_chain_der`` is the chain as the peer presented
    it, leaf first, fetched by a second unverified handshake when verification failed."""

    target: ProbeTarget
    ok: bool
    error: str | None = None
    error_kind: str | None = None
    verify_code: int | None = None
    verify_message: str | None = None
    peer_chain_der: tuple[bytes, ...] = ()
    verified_chain_der: tuple[bytes, ...] = ()
    tls_version: str | None = None
    cipher: str | None = None
    handshake_seconds: float | None = None
    http_status: int | None = None
    http_title: str | None = None
    http_body: bytes = field(default=b"", repr=False)

    def peer_certificates(self) -> list[x509.Certificate]:
        """The presented chain, leaf first, parsed (raises ``ValueError`` for invalid DER)."""
        return [x509.load_der_x509_certificate(d) for d in self.peer_chain_der]

    @property
    def peer_fingerprint(self) -> str | None:
        """SHA-256 (hex) of the presented leaf certificate; None when none was seen."""
        return sha256_hex(self.peer_chain_der[0]) if self.peer_chain_der else None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (fingerprints instead of DER, no keys)."""
        t = self.target
        return {
            "target": {
                "host": t.host,
                "port": t.port,
                "server_name": t.server_name,
                "purpose": t.purpose,
                "label": t.label,
                "mutual": t.client_cert_pem is not None,
            },
            "ok": self.ok,
            "error": self.error,
            "error_kind": self.error_kind,
            "verify_code": self.verify_code,
            "verify_message": self.verify_message,
            "peer_fingerprints": [sha256_hex(d) for d in self.peer_chain_der],
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "handshake_seconds": self.handshake_seconds,
            "http_status": self.http_status,
            "http_title": self.http_title,
        }


class _RefusedAfterHandshake(Exception):
    pass


class _ContextCache:
    """Contexts are costly to build; probes with the same trust and client identity share."""

    def __init__(self) -> None:
        self._cache: dict[tuple[object, ...], ssl.SSLContext] = {}

    def get(self, t: ProbeTarget, *, verify: bool) -> ssl.SSLContext:
        key = (
            t.trust_pem,
            t.client_cert_pem,
            t.client_key_pem,
            t.server_name is not None,
            verify,
            t.strict_x509,
        )
        ctx = self._cache.get(key)
        if ctx is None:
            ctx = client_context(
                t.trust_pem,
                cert_chain_pem=t.client_cert_pem,
                key_pem=t.client_key_pem,
                check_hostname=t.server_name is not None,
                verify=verify,
                strict=t.strict_x509,
            )
            self._cache[key] = ctx
        return ctx


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):  # a context, not a task per call: probes are many
            await writer.wait_closed()


async def _http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, t: ProbeTarget
) -> tuple[int, str | None, bytes]:
    host = t.server_name or t.host
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ccapki-probe\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
    )
    await writer.drain()
    data = b""
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        while len(data) < _MAX_HTTP:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ConnectionError("the peer did not answer with HTTP")
    m = _TITLE.search(body)
    title = m.group(1).decode("utf-8", "replace").strip() if m else None
    return int(parts[1]), title, body


async def _fetch_presented_chain(t: ProbeTarget, cache: _ContextCache) -> tuple[bytes, ...]:
    """A second, unverified handshake only to read what the peer presents."""
    with contextlib.suppress(Exception):
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                t.host,
                t.port,
                ssl=cache.get(t, verify=False),
                server_hostname=t.server_name or "",
                ssl_handshake_timeout=t.timeout,
            ),
            t.timeout,
        )
        try:
            return peer_chain_der(writer.get_extra_info("ssl_object"))
        finally:
            await _close(writer)
    return ()


async def _probe(t: ProbeTarget, cache: _ContextCache) -> ProbeResult:
    start = time.perf_counter()
    try:
        ctx = cache.get(t, verify=t.verify)
    except (ssl.SSLError, ValueError) as exc:
        return ProbeResult(t, False, f"bad probe input: {exc}", "input")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(t.timeout):
            reader, w = await asyncio.open_connection(
                t.host,
                t.port,
                ssl=ctx,
                server_hostname=t.server_name or "",
                ssl_handshake_timeout=t.timeout,
            )
        writer = w
        elapsed = time.perf_counter() - start
        sslobj = w.get_extra_info("ssl_object")
        chain = peer_chain_der(sslobj)
        verified: tuple[bytes, ...] = ()
        for holder in (sslobj, getattr(sslobj, "_sslobj", None)):
            fn = getattr(holder, "get_verified_chain", None)
            if fn is not None:
                with contextlib.suppress(Exception):
                    verified = tuple(c if isinstance(c, bytes) else c.public_bytes(2) for c in fn())
                break
        if t.expect_leaf_sha256 is not None and (
            not chain or sha256_hex(chain[0]) != t.expect_leaf_sha256.lower()
        ):
            got = sha256_hex(chain[0])[:16] if chain else "nothing"
            return ProbeResult(
                t,
                False,
                error=f"peer presents certificate {got}…, expected "
                f"{t.expect_leaf_sha256[:16]}… (HA peers must hold the same identity)",
                error_kind="mismatch",
                peer_chain_der=chain,
                handshake_seconds=elapsed,
            )
        cipher = w.get_extra_info("cipher")
        status = title = None
        body = b""
        if t.http_get:
            status, title, body = await asyncio.wait_for(_http_get(reader, w, t), t.timeout)
        elif t.confirm_seconds > 0 and sslobj.version() == "TLSv1.3":
            # TLS 1.3 servers judge the client certificate (or its absence) after the client
            # finished its side of the handshake: wait briefly for a refusal (an alert, or
            # the connection closed without a word) so it is not reported as success.
            try:
                first = await asyncio.wait_for(reader.read(1), min(t.confirm_seconds, t.timeout))
            except TimeoutError:
                first = b"-"
            if not first:
                raise _RefusedAfterHandshake(
                    "peer closed the connection right after the handshake (it requires a "
                    "client certificate, or refused ours)"
                )
        return ProbeResult(
            t,
            True,
            peer_chain_der=chain,
            verified_chain_der=verified,
            tls_version=sslobj.version(),
            cipher=cipher[0] if cipher else None,
            handshake_seconds=elapsed,
            http_status=status,
            http_title=title,
            http_body=body,
        )
    except _RefusedAfterHandshake as exc:
        return ProbeResult(
            t,
            False,
            error=str(exc),
            error_kind="rejected",
            peer_chain_der=chain,
            handshake_seconds=elapsed,
        )
    except Exception as exc:
        f = describe_error(exc)
        chain = ()
        if t.fetch_chain_on_failure and f.kind in ("verify", "rejected", "tls"):
            chain = await _fetch_presented_chain(t, cache)
        return ProbeResult(
            t,
            False,
            error=f.message,
            error_kind=f.kind,
            verify_code=f.verify_code,
            verify_message=f.verify_message,
            peer_chain_der=chain,
            handshake_seconds=time.perf_counter() - start,
        )
    finally:
        if writer is not None:
            await _close(writer)


async def probe(target: ProbeTarget) -> ProbeResult:
    """Probe one endpoint and return its :class:`ProbeResult`; never raises for network,
    TLS or bad-input trouble (those come back as a failed result)."""
    return (await probe_many([target]))[0]


async def probe_many(targets: Sequence[ProbeTarget], concurrency: int = 64) -> list[ProbeResult]:
    """Probe many endpoints, at most ``concurrency`` at a time; results in input order.

    Raises ``ValueError`` when ``concurrency`` is below 1; never for network or TLS trouble.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    cache = _ContextCache()
    sem = asyncio.Semaphore(concurrency)
    started: asyncio.Future[Any] | None = None
    if any(t.stack == JAVA_STACK and t.verify for t in targets):
        # the JVM warms up while the other probes run
        started = asyncio.ensure_future(_start_jvm())

    async def one(t: ProbeTarget) -> ProbeResult:
        if t.stack == JAVA_STACK and t.verify and started is not None:
            jvm = await asyncio.shield(started)
            if isinstance(jvm, str):
                return ProbeResult(t, False, f"the JVM cannot run: {jvm}", "input")
            async with sem:
                return await _probe_jsse(t, jvm, cache)
        async with sem:
            return await _probe(t, cache)

    try:
        return list(await asyncio.gather(*(one(t) for t in targets)))
    finally:
        if started is not None:
            jvm = await started
            if not isinstance(jvm, str):
                await jvm.stop()


async def _start_jvm() -> Any:
    """A started :class:`~ccapki.lab.jsse.JsseHarness`, or why none could start."""
    from ccapki.lab.jsse import JsseHarness  # lazy: the lab imports this module

    jvm = JsseHarness()
    try:
        await jvm.start()
    except Exception as exc:  # no JVM: its probes fail, the others still run
        await jvm.stop()
        return str(getattr(exc, "message", exc))
    return jvm


async def _probe_jsse(t: ProbeTarget, jvm: Any, cache: _ContextCache) -> ProbeResult:
    """``t`` probed by a JSSE client (PKIX trust managers) in the JVM ``jvm``."""
    start = time.perf_counter()
    try:
        r = await jvm.connect(
            t.host,
            t.port,
            server_name=t.server_name or t.host,
            trust_pem=t.trust_pem or b"",
            cert_chain_pem=t.client_cert_pem,
            key_pem=t.client_key_pem,
            check_hostname=t.server_name is not None,
            confirm_seconds=t.confirm_seconds,
            timeout=t.timeout,
        )
    except Exception as exc:  # the JVM died mid-way
        return ProbeResult(t, False, f"the JVM failed: {exc}", "tls")
    if r.ok and t.expect_leaf_sha256 is not None and r.peer_sha256 != t.expect_leaf_sha256:
        got = (r.peer_sha256 or "nothing")[:16]
        return ProbeResult(
            t,
            False,
            error=f"peer presents certificate {got}…, expected "
            f"{t.expect_leaf_sha256[:16]}… (HA peers must hold the same identity)",
            error_kind="mismatch",
            peer_chain_der=r.peer_chain_der,
            handshake_seconds=r.handshake_seconds,
        )
    if r.ok:
        return ProbeResult(
            t,
            True,
            peer_chain_der=r.peer_chain_der,
            tls_version=r.protocol,
            cipher=r.cipher,
            handshake_seconds=r.handshake_seconds,
        )
    error = r.error or "failed"
    kind = "verify" if "PKIX" in error or "ertificate" in error else "tls"
    if error.startswith("peer closed the connection"):
        kind = "rejected"
    elif "java.net.ConnectException: Connection refused" in error:  # the words Python's use
        kind, error = "refused", "connection refused"
    elif "SocketTimeoutException" in error:
        kind, error = "timeout", "timeout"
    chain: tuple[bytes, ...] = ()
    if t.fetch_chain_on_failure and kind in ("verify", "tls"):
        chain = await _fetch_presented_chain(t, cache)
    return ProbeResult(
        t,
        False,
        error=error,
        error_kind=kind,
        peer_chain_der=chain,
        handshake_seconds=r.handshake_seconds or time.perf_counter() - start,
    )
