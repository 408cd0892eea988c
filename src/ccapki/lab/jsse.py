"""TLS endpoints on the JVM (JSSE, PKIX): the stack the appliances' CAM <-> CAS channels run.

The Java side is one small source file kept in the package (``java/CcaJsse.java``), compiled
with ``javac`` at first use into a cache folder keyed by the source's SHA-256, so an edited
source is recompiled and an unchanged one never is. :class:`JsseHarness` runs ONE long-lived
JVM for all Java endpoints and talks to it over a JSON-lines protocol on its stdin/stdout
(requests carry an ``id``; answers may come back in any order, so connections run in
parallel):

    async with JsseHarness() as jvm:
        port = await jvm.serve("cam/control", material, client_auth="need")
        result = await jvm.connect("127.0.0.1", port, server_name="cam", trust_pem=...,
                                   cert_chain_pem=..., key_pem=...)
        result.ok, result.error        # error: "<exception class>: <message>"

Keys travel to the JVM as PKCS#12 bytes encrypted under a random per-harness password,
over the pipe only: nothing is written to disk. Trust is
``TrustManagerFactory.getDefaultAlgorithm()`` (PKIX) over a key store holding every trust
store certificate as a trusted entry, the way Tomcat's truststore works.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.errors import CcapkiError

__all__ = [
    "JSSE_STACK",
    "JsseHarness",
    "JsseResult",
    "compile_harness",
    "java_available",
    "pkcs12_bytes",
]

#: How reports name this stack.
JSSE_STACK = "Java JSSE (PKIX)"
ClientAuth = Literal["need", "want", "none"]
_MAIN = "CcaJsse"
_HINT = "install a JDK (Debian: apt-get install default-jdk-headless) or turn the JVM off"


#: what JSSE says when a trust manager is built from an empty trust store
_EMPTY_TRUST = "the trustAnchors parameter must be non-empty"


def _plain(error: str | None) -> str | None:
    """A JSSE error with its meaning in front where Java's words hide it (an empty trust
    store: "Unexpected error: ... InvalidAlgorithmParameterException: the trustAnchors
    parameter must be non-empty")."""
    if error and _EMPTY_TRUST in error:
        return f"the trust store is empty: JSSE trusts no certificate ({error})"
    return error


def java_available() -> bool:
    """Whether ``java`` and ``javac`` are on PATH (the lab then runs CAM/CAS links on JSSE)."""
    return shutil.which("java") is not None and shutil.which("javac") is not None


def _source() -> bytes:
    return resources.files("ccapki.lab").joinpath("java", f"{_MAIN}.java").read_bytes()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccapki" / "jsse"


def compile_harness(cache: Path | None = None) -> Path:
    """The class folder of the compiled harness, compiling it first if needed.

    The folder is ``<cache>/<sha256 of the source>``; compiling goes to a fresh temporary
    folder renamed into place, so concurrent first uses never see half a compile. Raises
    :class:`~ccapki.errors.CcapkiError` when ``javac`` is missing or fails.
    """
    src = _source()
    root = cache or _cache_root()
    target = root / hashlib.sha256(src).hexdigest()[:32]
    if (target / f"{_MAIN}.class").is_file():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise CcapkiError("javac is not installed: the JSSE endpoints cannot run", _HINT)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        (work / f"{_MAIN}.java").write_bytes(src)
        classes = work / "classes"
        proc = subprocess.run(
            [javac, "-nowarn", "-d", str(classes), str(work / f"{_MAIN}.java")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise CcapkiError(
                f"javac failed on the JSSE harness: {proc.stderr.strip()[:400]}", _HINT
            )
        with contextlib.suppress(OSError):  # another process won the race: use its folder
            classes.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def pkcs12_bytes(cert_chain_pem: bytes, key_pem: bytes, password: bytes) -> bytes:
    """A PKCS#12 key store of the key, its certificate and the rest of the chain."""
    with warnings.catch_warnings():  # a zero or negative serial: served as it is
        warnings.simplefilter("ignore")
        certs = x509.load_pem_x509_certificates(cert_chain_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    return pkcs12.serialize_key_and_certificates(
        b"identity",
        key,  # type: ignore[arg-type]
        certs[0],
        certs[1:] or None,
        # The password is random per harness and the bytes only cross a pipe: key-stretching
        # rounds would protect nothing and cost every endpoint (and the JVM) time.
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(1)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password),
    )


@dataclass(frozen=True)
class JsseResult:
    """One client connection made by the JVM.

    ``error``: the client's exception (class and message); ``server_error``: the server
    side's when the server is one of this harness's endpoints; ``reply``: the server's
    answer line to ``hello``.
    """

    ok: bool
    error: str | None = None
    server_error: str | None = None
    reply: str | None = None
    handshake_seconds: float | None = None
    peer_sha256: str | None = None
    peer_chain_der: tuple[bytes, ...] = ()
    protocol: str | None = None
    cipher: str | None = None


class JsseHarness:
    """One JVM serving every Java endpoint and making every Java client connection."""

    def __init__(self, *, cache: Path | None = None) -> None:
        self._cache = cache
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._password = secrets.token_urlsafe(24).encode("ascii")
        self._p12: dict[tuple[bytes, bytes], str] = {}
        self._stderr = b""

    @property
    def running(self) -> bool:
        """Whether the JVM is up."""
        return self._proc is not None and self._proc.returncode is None

    async def __aenter__(self) -> JsseHarness:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Compile if needed (in a worker thread) and start the JVM; waits until it answers."""
        if self.running:
            return
        java = shutil.which("java")
        if java is None:
            raise CcapkiError("java is not installed: the JSSE endpoints cannot run", _HINT)
        classes = await asyncio.to_thread(compile_harness, self._cache)
        self._proc = await asyncio.create_subprocess_exec(
            java,
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-Xss512k",
            "-cp",
            str(classes),
            _MAIN,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        self._reader = asyncio.create_task(self._read_answers(), name="ccapki-jsse-reader")
        await self._call({"op": "ping"}, timeout=30.0)

    async def stop(self) -> None:
        """Stop the JVM (closing every endpoint it serves)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.write(b'{"op":"quit"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 3.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    def _keystore(self, cert_chain_pem: bytes, key_pem: bytes) -> str:
        key = (cert_chain_pem, key_pem)
        if key not in self._p12:
            p12 = pkcs12_bytes(cert_chain_pem, key_pem, self._password)
            self._p12[key] = base64.b64encode(p12).decode("ascii")
        return self._p12[key]

    async def serve(
        self,
        name: str,
        *,
        cert_chain_pem: bytes,
        key_pem: bytes,
        trust_pem: bytes = b"",
        host: str = "127.0.0.1",
        client_auth: ClientAuth = "need",
        from_name: str = "",
        role: str = "",
        timeout: float = 5.0,
        allowed_subjects: Sequence[bytes] | None = None,
    ) -> int:
        """Open (or, for a known ``name``, re-key on the same port) a TLS endpoint that
        answers one JSON line per connection; returns its port. ``allowed_subjects``
        (DER of subject names): clients whose certificate subject is not one of them are
        dropped right after the handshake, without a reply (4.9 DN authorization)."""
        answer = await self._call(
            {
                "op": "serve",
                "name": name,
                "host": host,
                "keystore": self._keystore(cert_chain_pem, key_pem),
                "password": self._password.decode("ascii"),
                "trust": trust_pem.decode("ascii"),
                "client_auth": client_auth,
                "from": from_name,
                "role": role,
                "timeout": timeout,
                "allowed_subjects": (
                    None
                    if allowed_subjects is None
                    else [base64.b64encode(d).decode("ascii") for d in allowed_subjects]
                ),
            }
        )
        if not answer.get("ok"):
            raise CcapkiError(
                f"the JVM cannot serve {name}: {answer.get('error')}",
                "check that the key belongs to the certificate and the PEM files are whole",
            )
        return int(answer["port"])

    async def close_endpoint(self, name: str) -> None:
        """Close the endpoint ``name`` (nothing if it is not open)."""
        await self._call({"op": "close", "name": name})

    async def connect(
        self,
        host: str,
        port: int,
        *,
        server_name: str,
        trust_pem: bytes,
        cert_chain_pem: bytes | None = None,
        key_pem: bytes | None = None,
        check_hostname: bool = True,
        hello: str | None = None,
        confirm_seconds: float = 0.0,
        timeout: float = 5.0,
    ) -> JsseResult:
        """One JSSE client handshake (and, with ``hello``, one line exchanged; without it,
        ``confirm_seconds`` waits for a server that refuses the client certificate after a
        TLS 1.3 handshake)."""
        req: dict[str, Any] = {
            "op": "connect",
            "host": host,
            "port": port,
            "server_name": server_name,
            "trust": trust_pem.decode("ascii"),
            "check_hostname": check_hostname,
            "hello": hello,
            "confirm": confirm_seconds,
            "timeout": timeout,
        }
        if cert_chain_pem is not None and key_pem is not None:
            req["keystore"] = self._keystore(cert_chain_pem, key_pem)
            req["password"] = self._password.decode("ascii")
        answer = await self._call(req, timeout=timeout * 2 + 5)
        ms = answer.get("handshake_ms")
        return JsseResult(
            ok=bool(answer.get("ok")),
            error=_plain(answer.get("error")),
            server_error=_plain(answer.get("server_error")),
            reply=answer.get("reply"),
            handshake_seconds=float(ms) / 1000 if ms is not None else None,
            peer_sha256=answer.get("peer_sha256"),
            peer_chain_der=tuple(base64.b64decode(c) for c in answer.get("peer_chain") or ()),
            protocol=answer.get("protocol"),
            cipher=answer.get("cipher"),
        )

    async def _call(self, req: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise CcapkiError(f"the JVM is not running{self._died()}", _HINT)
        self._next += 1
        rid = self._next
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            proc.stdin.write(json.dumps({"id": rid, **req}).encode() + b"\n")
            await proc.stdin.drain()
            return await asyncio.wait_for(fut, timeout)
        except (ConnectionError, BrokenPipeError, TimeoutError) as exc:
            raise CcapkiError(
                f"the JVM did not answer ({type(exc).__name__}){self._died()}", _HINT
            ) from None
        finally:
            self._pending.pop(rid, None)

    def _died(self) -> str:
        tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        return f": {' / '.join(tail)}" if tail else ""

    async def _read_answers(self) -> None:
        proc = self._proc
        assert proc is not None
        out, err = proc.stdout, proc.stderr
        assert out is not None
        assert err is not None

        async def drain_stderr() -> None:
            while chunk := await err.read(4096):
                self._stderr = (self._stderr + chunk)[-4096:]

        drain = asyncio.create_task(drain_stderr())
        try:
            while line := await out.readline():
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                fut = self._pending.get(int(answer.get("id", -1)))
                if fut is not None and not fut.done():
                    fut.set_result(answer)
        finally:
            drain.cancel()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the JVM exited"))
