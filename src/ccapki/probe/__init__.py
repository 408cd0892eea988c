"""Read-only asyncio TLS probing of live endpoints (lab or real appliances).

A probe connects the way a channel's client does (trust anchors, optional client certificate,
the name to check), does the handshake and, for HTTPS endpoints, at most one ``GET /``. It never
changes anything on the peer. It never raises for network trouble: an unreachable host, a
refused handshake or a timeout all come back as a failed :class:`ProbeResult`.

    result = await probe(ProbeTarget("127.0.0.1", 8443, server_name="cas1.example.edu",
                                     trust_pem=root_pem))
    results = await probe_many(targets, concurrency=64)

:func:`observe_many` only looks: one unverified handshake per endpoint that reads the chain
the server presents, its protocol version and the handshake time, even when the handshake
then fails (a mutual-TLS endpoint refusing a client without a certificate), and tells
"refused", "timed out", "not TLS" and "handshake failed" apart (``ccapki probe``). Both take
``ProbeTarget.retries``: a failed connection is tried again after a short backoff, within
the target's ``timeout``.

The TLS contexts and error wording the prober uses are public in :mod:`ccapki.probe.tls`
(the lab's servers use the same ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509

from ccapki.probe.tls import (
    client_context,
    describe_error,
    observer_context,
    peer_chain_der,
    sha256_hex,
)
from ccapki.topology.model import Channel

__all__ = [
    "PARK_AFTER",
    "RETRYABLE",
    "RETRY_BACKOFF",
    "ProbeResult",
    "ProbeTarget",
    "observe",
    "observe_many",
    "probe",
    "probe_many",
]

#: Targets whose ``stack`` is this are probed by a JSSE client in one JVM per
#: :func:`probe_many` call (:mod:`ccapki.lab.jsse`), as the appliances' Java verifies.
JAVA_STACK = "java-pkix"
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_MAX_HTTP = 256 * 1024
#: Failures of the connection rather than of TLS: worth another attempt (``retries``).
RETRYABLE = frozenset({"refused", "reset", "closed", "timeout", "error"})
#: Seconds before the first retry; each further retry waits twice as long.
RETRY_BACKOFF = 0.2
#: A retry needs at least this many seconds of the target's timeout left.
_MIN_ATTEMPT = 0.05
#: :func:`observe_many`: seconds after which an endpoint still waiting for its peer steps
#: aside (gives up its concurrency slot, and keeps waiting to its timeout), so that
#: endpoints that never answer cannot hold up the others; at most ``_PARKED`` times the
#: concurrency wait aside at once.
PARK_AFTER = 1.0
_PARKED = 4
#: TLS record content types (change_cipher_spec, alert, handshake, application_data)
_TLS_RECORDS = frozenset({20, 21, 22, 23})


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
    ``retries``: how many more attempts a failed connection gets (refused, reset, closed
    or timed out: :data:`RETRYABLE`, never a TLS failure), after :data:`RETRY_BACKOFF`
    seconds, doubling; ``timeout`` then bounds all attempts together.

    ``client``, ``server`` and ``channel`` say which cell of a deployment the probe counts
    for: the appliance connecting (None: an endpoint or browser, not an appliance), the
    appliance probed, and the :class:`~ccapki.topology.model.Channel`. ``label`` is only
    for display (``status:cas1->cam``); nothing parses it. ``verify=False``: the channel's
    client does not verify the peer (a CAM/CAS link before 4.5): only the TLS connection is
    tested. ``stack``: the verifier the probe stands for (default: ``openssl-strict`` or
    ``openssl-default`` after ``strict_x509``), named in live reports.
    Raises ``ValueError`` for a port out of range, a client certificate without its key (or
    a key without its certificate), a timeout that is not positive or negative retries.
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
    retries: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if (self.client_cert_pem is None) != (self.client_key_pem is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.retries < 0:
            raise ValueError("retries must not be negative")

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
    it, leaf first, fetched by a second unverified handshake when verification failed.
    ``attempts``: how many connections it took (see ``ProbeTarget.retries``)."""

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
    attempts: int = 1

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
            "attempts": self.attempts,
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

    def observer(self, t: ProbeTarget) -> ssl.SSLContext:
        """The context that only reads what the peer presents (with ``t``'s client
        certificate, if it has one)."""
        key = ("observe", t.client_cert_pem, t.client_key_pem)
        ctx = self._cache.get(key)
        if ctx is None:
            ctx = observer_context(cert_chain_pem=t.client_cert_pem, key_pem=t.client_key_pem)
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
                return await _with_retries(t, lambda x: _probe_jsse(x, jvm, cache))
        async with sem:
            return await _with_retries(t, lambda x: _probe(x, cache))

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


# ---------------------------------------------------------------------------- retries


async def _with_retries(
    t: ProbeTarget, attempt: Callable[[ProbeTarget], Awaitable[ProbeResult]]
) -> ProbeResult:
    """``attempt(t)``, tried again while it fails to connect (:data:`RETRYABLE`, no chain
    seen) and ``t.retries`` and ``t.timeout`` allow, after a doubling backoff."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + t.timeout
    result = await attempt(t)
    backoff, n = RETRY_BACKOFF, 1
    while (
        not result.ok
        and not result.peer_chain_der
        and result.error_kind in RETRYABLE
        and n <= t.retries
        and deadline - loop.time() - backoff >= _MIN_ATTEMPT
    ):
        await asyncio.sleep(backoff)
        n += 1
        result = await attempt(replace(t, timeout=deadline - loop.time()))
        backoff *= 2
    return replace(result, target=t, attempts=n) if n > 1 else result


# ---------------------------------------------------------------------------- observing


class _NotTls(Exception):
    def __init__(self, first: bytes) -> None:
        line = first.split(b"\n", 1)[0].strip()[:60]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in line)
        super().__init__(f"the peer answered, but not in TLS: {text!r}")


def _looks_like_tls(first: bytes) -> bool:
    """Whether the first bytes a server sent can begin a TLS record."""
    return first[0] in _TLS_RECORDS and (len(first) < 2 or first[1] == 3)


async def _observe(
    t: ProbeTarget, cache: _ContextCache, park: Callable[[], None] | None = None
) -> ProbeResult:
    """One unverified handshake with ``t``: what it presents, however the handshake ends.
    ``park`` is called if it is still waiting after :data:`PARK_AFTER` seconds (or half
    its timeout, when shorter)."""
    start = time.perf_counter()
    try:
        ctx = cache.observer(t)
    except (ssl.SSLError, ValueError) as exc:
        return ProbeResult(t, False, f"bad probe input: {exc}", "input")
    timer = None
    if park is not None:
        timer = asyncio.get_running_loop().call_later(min(PARK_AFTER, t.timeout / 2), park)
    writer: asyncio.StreamWriter | None = None
    sslobj: ssl.SSLObject | None = None
    answered = False
    try:
        async with asyncio.timeout(t.timeout):
            reader, writer = await asyncio.open_connection(t.host, t.port)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            sslobj = ctx.wrap_bio(incoming, outgoing, server_hostname=t.server_name or None)
            while True:
                try:
                    sslobj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if incoming.eof:
                        raise ConnectionAbortedError("closed") from None
                pending = outgoing.read()
                if pending:
                    writer.write(pending)
                chunk = await reader.read(65536)
                if chunk and not answered:
                    answered = True
                    if not _looks_like_tls(chunk):
                        raise _NotTls(chunk)
                if chunk:
                    incoming.write(chunk)
                else:
                    incoming.write_eof()
        elapsed = time.perf_counter() - start
        cipher = sslobj.cipher()
        with contextlib.suppress(ssl.SSLError):  # close_notify: a polite goodbye
            sslobj.unwrap()
        pending = outgoing.read()
        if pending:
            writer.write(pending)
        return ProbeResult(
            t,
            True,
            peer_chain_der=peer_chain_der(sslobj),
            tls_version=sslobj.version(),
            cipher=cipher[0] if cipher else None,
            handshake_seconds=elapsed,
        )
    except _NotTls as exc:
        return ProbeResult(
            t, False, str(exc), "not-tls", handshake_seconds=time.perf_counter() - start
        )
    except Exception as exc:
        f = describe_error(exc)
        message = f.message
        if f.kind == "timeout":
            if writer is None:
                message = f"timed out connecting ({t.timeout:g} s)"
            elif not answered:
                message = f"connected, but no answer to the TLS hello in {t.timeout:g} s"
            else:
                message = f"the TLS handshake did not finish in {t.timeout:g} s"
        elif f.kind in ("closed", "reset") and writer is not None and not answered:
            message = "the peer closed the connection without answering the TLS hello"
        chain: tuple[bytes, ...] = ()
        version = cipher_name = None
        if sslobj is not None:
            chain = peer_chain_der(sslobj)
            with contextlib.suppress(Exception):
                negotiated = sslobj.cipher()
                if negotiated:
                    cipher_name, version = negotiated[0], negotiated[1]
        return ProbeResult(
            t,
            False,
            error=message,
            error_kind=f.kind,
            peer_chain_der=chain,
            tls_version=version,
            cipher=cipher_name,
            handshake_seconds=time.perf_counter() - start,
        )
    finally:
        if timer is not None:
            timer.cancel()
        if writer is not None:
            await _close(writer)


async def observe(target: ProbeTarget) -> ProbeResult:
    """What ``target`` presents to an unverified handshake (see :func:`observe_many`)."""
    return (await observe_many([target]))[0]


async def observe_many(
    targets: Sequence[ProbeTarget],
    concurrency: int = 64,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Look at many endpoints, at most ``concurrency`` at a time; results in input order.

    Each result holds the chain the endpoint presented (leaf first; also when the handshake
    failed after it, as a mutual-TLS endpoint does to a client without a certificate in
    TLS 1.2), the protocol version and cipher, and the handshake time. ``ok`` is True when
    the handshake completed. Failures come back with ``error_kind`` ``refused``,
    ``timeout``, ``dns``, ``error`` (no connection), ``not-tls`` (something answered, not
    in TLS), ``rejected`` (a TLS alert), ``closed``/``reset`` or ``tls``. Nothing is
    verified, so ``trust_pem``, ``verify``, ``http_get`` and ``expect_leaf_sha256`` are
    ignored; ``client_cert_pem``/``client_key_pem`` are presented when given.
    ``on_result`` is called with each result as it comes (progress).

    ``concurrency`` bounds the endpoints being worked on. One still waiting for its peer
    after :data:`PARK_AFTER` seconds steps aside (it keeps waiting, to its timeout, without
    a slot; up to four times ``concurrency`` at once), so silent endpoints cannot hold up
    the others: the run ends about one timeout after the last endpoint started.

    Raises ``ValueError`` when ``concurrency`` is below 1; never for network or TLS trouble.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    cache = _ContextCache()
    sem = asyncio.Semaphore(concurrency)
    parked = 0

    async def one(t: ProbeTarget) -> ProbeResult:
        nonlocal parked
        await sem.acquire()
        held = True

        def park() -> None:
            nonlocal held, parked
            if held and parked < _PARKED * concurrency:
                held = False
                parked += 1
                sem.release()

        try:
            result = await _with_retries(t, lambda x: _observe(x, cache, park))
        finally:
            if held:
                sem.release()
            else:
                parked -= 1
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(t) for t in targets)))
