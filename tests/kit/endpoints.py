"""Stand-in appliance endpoints on 127.0.0.1: what each serves is the test's to choose.

:class:`EndpointHost` runs an event loop in a background thread (the CLI under test runs its
own with ``asyncio.run`` in the test's thread). Each endpoint listens on a port of its own
and does what its mode says, switchable between probes:

- :class:`Tls`: TLS with a given chain and key (optionally only up to TLS 1.2, optionally
  requiring a client certificate from the roots it is given, as a mutual-TLS appliance;
  optionally answering one HTTP request with a page, as a GUI);
- ``SILENT``: accepts and says nothing until the client leaves;
- ``HTTP``: plain HTTP (answers the TLS hello with ``400 Bad Request``);
- ``CLOSED``: nothing listens (the port refuses connections).

Always used as a context manager: the servers and the thread stop at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.probe.tls import server_context

T = TypeVar("T")

SILENT = "silent"
HTTP = "http"
CLOSED = "closed"


@dataclass(frozen=True)
class Tls:
    """Serve ``chain_pem`` (leaf first) with ``key_pem``."""

    chain_pem: bytes
    key_pem: bytes
    tls12_only: bool = False
    mutual: bool = False
    trust_pem: bytes = b""  # the roots a mutual endpoint accepts client certificates from
    http: bool = False  # answer a request with ``200 OK`` and a page (a GUI, a web login)

    @classmethod
    def from_bundle(cls, bundle: bytes, **kw: Any) -> Tls:
        """From a PEM bundle (certificates and the key, as ``ccapki export --format
        pem-bundle`` writes it)."""
        certs = x509.load_pem_x509_certificates(bundle)
        start = bundle.index(b"-----BEGIN PRIVATE KEY-----")
        end = bundle.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----")
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        return cls(chain, bundle[start:end] + b"\n", **kw)

    def context(self) -> ssl.SSLContext:
        ctx = server_context(
            self.chain_pem, self.key_pem, trust_pem=self.trust_pem, require_client_cert=self.mutual
        )
        if self.tls12_only:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx


Mode = Tls | str


class EndpointHost:
    """Endpoints on 127.0.0.1, each doing what its mode says (see the module docstring)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._modes: dict[int, Mode] = {}
        self._contexts: dict[int, ssl.SSLContext] = {}
        self._servers: dict[int, asyncio.Server] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> EndpointHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def add(self, mode: Mode) -> str:
        """A new endpoint doing ``mode``; returns its ``127.0.0.1:port``."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        if mode == CLOSED:
            sock.close()  # nothing listens there: connections are refused
            self._modes[port] = mode
            return f"127.0.0.1:{port}"
        sock.listen(64)
        sock.setblocking(False)
        self._servers[port] = self._call(self._serve(sock, port))
        self.set(f"127.0.0.1:{port}", mode)
        return f"127.0.0.1:{port}"

    def set(self, address: str, mode: Mode) -> None:
        """From now on the endpoint at ``address`` does ``mode`` (not ``CLOSED``)."""
        port = int(address.rsplit(":", 1)[1])
        if port not in self._servers:
            raise ValueError(f"{address} does not listen")
        if isinstance(mode, Tls):
            self._contexts[port] = mode.context()
        self._modes[port] = mode

    async def _serve(self, sock: socket.socket, port: int) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)  # type: ignore[arg-type]
            try:
                await self._handle(port, reader, writer)
            except (OSError, ssl.SSLError, EOFError, asyncio.CancelledError, TimeoutError):
                pass
            finally:
                self._tasks.discard(task)  # type: ignore[arg-type]
                writer.close()

        return await asyncio.start_server(handle, sock=sock)

    async def _handle(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        mode = self._modes[port]
        async with asyncio.timeout(30):
            if mode == SILENT:
                while await reader.read(65536):
                    pass
            elif mode == HTTP:
                await reader.read(65536)
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
            elif isinstance(mode, Tls):
                await writer.start_tls(self._contexts[port])
                if mode.http:
                    await reader.readuntil(b"\r\n\r\n")
                    page = b"<html><head><title>Clean Access</title></head></html>"
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(page), page)
                    )
                    await writer.drain()
                    return
                while await reader.read(65536):
                    pass

    async def _stop(self) -> None:
        for server in self._servers.values():
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0)
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
