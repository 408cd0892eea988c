"""The lab engine: every appliance endpoint as a real TLS server on loopback, and the links.

Servers accept plain TCP and upgrade with ``StreamWriter.start_tls`` using the context current
at accept time, so :meth:`Lab.reload` swaps certificates without closing a listening socket,
and the server side sees (and reports) why it refused a handshake.

With ``spec.jsse`` the control endpoints (and the status/control links made to them) run on
one JVM instead (:mod:`ccapki.lab.jsse`): JSSE with PKIX trust managers on both ends, as the
appliances' Tomcat does; its endpoints are re-keyed in place on reload, keeping their ports.

With ``spec.ike_heartbeat`` (the default) and strongSwan able to run here (root, charon: see
:func:`ccapki.lab.ipsec.ipsec_unavailable`), each HA pair's heartbeat link is a real IKEv2
negotiation, both ways, between two charon daemons in network namespaces, kept running
from round to round (:class:`ccapki.lab.ipsec.KeptPairs`): the pair is "HA broken" when
IKE_AUTH fails. Otherwise the heartbeat link is the TLS emulation (mutual TLS with the
pair's material against the heartbeat endpoint), and the pair's status says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ccapki.errors import CcapkiError, InputError, NetworkError
from ccapki.lab._pages import page_for, response
from ccapki.lab._spec import HTTPS_KINDS, ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.lab._status import (
    HA_BROKEN,
    NO_CERT_HEARTBEAT,
    NOT_CONNECTED,
    ApplianceStatus,
    EndpointStatus,
    LabStatus,
    LinkStatus,
    PairStatus,
    utc_now_text,
)
from ccapki.lab.ipsec import KeptPairs, ipsec_unavailable, pair_addresses, pair_peers
from ccapki.lab.jsse import JsseHarness
from ccapki.probe import JAVA_STACK
from ccapki.probe.tls import client_context, describe_error, server_context, sha256_hex

__all__ = ["Lab", "link_definitions"]

log = logging.getLogger("ccapki.lab")

_MAX_REQUEST = 16 * 1024
#: the stack of a heartbeat link negotiated by strongSwan (as CHANNEL_STACKS names it)
IKE_LINK_STACK = "strongswan"
_LINK_CONCURRENCY = 64
Addr = tuple[str, int]


class _LinkRefused(Exception):
    """The client side refuses the link after the handshake (HA identity mismatch)."""


@dataclass(frozen=True)
class _LinkDef:
    name: str
    kind: str  # status | control | heartbeat
    client: str
    server: str
    endpoint: str  # the server endpoint kind: control | heartbeat
    material: str  # the client's material: identity | heartbeat


def link_definitions(spec: LabSpec) -> list[_LinkDef]:
    """Every appliance-to-appliance link the lab runs for ``spec``."""
    out: list[_LinkDef] = []
    cam = spec.active_cam
    if cam is not None:
        for a in spec.appliances:
            if a.role == "cas":
                out.append(
                    _LinkDef(
                        f"status:{a.name}->{cam.name}",
                        "status",
                        a.name,
                        cam.name,
                        "control",
                        "identity",
                    )
                )
                out.append(
                    _LinkDef(
                        f"control:{cam.name}->{a.name}",
                        "control",
                        cam.name,
                        a.name,
                        "control",
                        "identity",
                    )
                )
    for _pair, (primary, secondary) in sorted(spec.pairs().items() if spec.heartbeat else ()):
        out.append(
            _LinkDef(
                f"heartbeat:{secondary.name}->{primary.name}",
                "heartbeat",
                secondary.name,
                primary.name,
                "heartbeat",
                "heartbeat",
            )
        )
    return out


@dataclass
class _Contexts:
    server: dict[tuple[str, str], ssl.SSLContext]  # (appliance, control|https|heartbeat)
    client: dict[tuple[str, str], ssl.SSLContext]  # (appliance, identity|heartbeat)


def _build_contexts(spec: LabSpec) -> _Contexts:
    cache: dict[tuple[object, ...], ssl.SSLContext] = {}
    strict = spec.strict_x509

    def srv(m: EndpointMaterial, mutual: bool) -> ssl.SSLContext:
        key = ("s", m.cert_chain_pem, m.key_pem, m.trust_pem if mutual else None, mutual)
        if key not in cache:
            cache[key] = server_context(
                m.cert_chain_pem,
                m.key_pem,
                trust_pem=m.trust_pem,
                require_client_cert=mutual,
                strict=strict,
            )
        return cache[key]

    def cli(m: EndpointMaterial, mutual: bool = True) -> ssl.SSLContext:
        key = ("c", m.cert_chain_pem, m.key_pem, m.trust_pem, mutual)
        if key not in cache:
            if mutual:
                cache[key] = client_context(
                    m.trust_pem,
                    cert_chain_pem=m.cert_chain_pem,
                    key_pem=m.key_pem,
                    check_hostname=spec.check_peer_names,
                    strict=strict,
                )
            else:  # before 4.5: TLS, but no verification and no client certificate
                cache[key] = client_context(None, check_hostname=False, verify=False)
        return cache[key]

    ctx = _Contexts({}, {})
    for a in spec.appliances:
        try:
            mutual = spec.mutual_verification
            ctx.server[(a.name, "control")] = srv(a.identity, mutual)
            ctx.server[(a.name, "https")] = srv(a.identity, False)
            ctx.client[(a.name, "identity")] = cli(a.identity, mutual)
            if a.pair and spec.heartbeat:
                ctx.server[(a.name, "heartbeat")] = srv(a.heartbeat_material, True)
                ctx.client[(a.name, "heartbeat")] = cli(a.heartbeat_material)
        except ssl.SSLError as exc:
            raise InputError(
                f"appliance {a.name}: its certificate, key or trust store cannot be loaded "
                f"({exc.reason or exc})",
                "check that the key belongs to the certificate and the PEM files are whole",
            ) from None
    return ctx


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


class Lab:
    """An emulated deployment on loopback.

        lab = Lab(spec)
        await lab.start()          # binds every endpoint, runs every link once
        lab.status()               # endpoints, links, appliances, HA pairs
        await lab.reload(spec2)    # new certificates and trust, same ports, links re-run
        await lab.stop()

    ``on_update`` (optional) is called after every round of links, for example to write the
    daemon's state file.
    """

    def __init__(self, spec: LabSpec, *, on_update: Callable[[], None] | None = None) -> None:
        self._spec = spec
        self._on_update = on_update
        self._ctx: _Contexts | None = None
        self._servers: dict[tuple[str, str], asyncio.Server] = {}
        self._ports: dict[tuple[str, str], int] = {}
        self._links: dict[str, LinkStatus] = {}
        self._defs: list[_LinkDef] = []
        self._expected: set[Addr] = set()
        self._views: dict[Addr, asyncio.Future[str | None]] = {}
        self._handlers: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._running = False
        self._jvm: JsseHarness | None = None
        self._jvm_keys: set[tuple[str, str]] = set()
        self._ike: KeptPairs | None = None
        self._ike_why: str | None = None  # why the TLS emulation judges the heartbeat
        self.rounds = 0

    @property
    def spec(self) -> LabSpec:
        """The spec the lab serves now (the last one loaded or reloaded)."""
        return self._spec

    @property
    def running(self) -> bool:
        """Whether its servers are up (between :meth:`start` and :meth:`stop`)."""
        return self._running

    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- life cycle ---------------------------------------------------------------------

    async def start(self, *, check_links: bool = True) -> None:
        """Bind every endpoint on ``spec.host`` (free ports), then run every link once
        (``check_links=False``: return as soon as every endpoint serves; the links then run
        in the background and report ``pending`` until checked)."""
        if self._running:
            raise RuntimeError("the lab is already running")
        self._lock = asyncio.Lock()
        self._ctx = _build_contexts(self._spec)
        try:
            if self._spec.jsse:
                self._jvm = JsseHarness()
                await self._jvm.start()
            for a in self._spec.appliances:
                await self._open_endpoints(a)
        except BaseException:
            await self._close_servers([*self._servers, *self._jvm_keys])
            await self._stop_jvm()
            raise
        self._running = True
        self._defs = link_definitions(self._spec)
        if check_links:
            async with self._lock:
                await self._run_links()
        self._loop_task = asyncio.create_task(
            self._periodic(first=not check_links), name="ccapki-lab-links"
        )
        log.info(
            "lab started: %d appliances, %d endpoints, %d links",
            len(self._spec.appliances),
            len(self._servers),
            len(self._defs),
        )

    async def stop(self) -> None:
        """Close every server and connection; the lab can be started again."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self._close_servers([*self._servers, *self._jvm_keys])
        await self._stop_jvm()
        await self._stop_ike()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        for fut in self._views.values():
            fut.cancel()
        self._views.clear()
        self._running = False
        log.info("lab stopped")

    async def _stop_jvm(self) -> None:
        jvm, self._jvm = self._jvm, None
        if jvm is not None:
            await jvm.stop()

    async def _stop_ike(self) -> None:
        ike, self._ike = self._ike, None
        if ike is not None:
            await asyncio.to_thread(ike.close)

    def _ike_reason(self) -> str | None:
        """Why the TLS emulation judges the heartbeat links (None: strongSwan does)."""
        if not self._spec.ike_heartbeat:
            return "turned off for this lab (LabSpec.ike_heartbeat)"
        return self._ike_why

    def _ike_runner(self) -> KeptPairs | None:
        """The kept strongSwan pairs that judge the heartbeat links, made at first need;
        None when the TLS emulation judges them (``_ike_why`` says why)."""
        if not self._spec.ike_heartbeat:
            return None
        if self._ike is None and self._ike_why is None:
            why = ipsec_unavailable()
            if why is not None:
                self._ike_why = why
                log.info("heartbeat links: TLS emulation (strongSwan IKEv2 cannot run: %s)", why)
            else:
                self._ike = KeptPairs()
        return self._ike if self._ike_why is None else None

    async def reload(self, new_spec: LabSpec) -> None:
        """Swap certificates and trust stores without restarting: new contexts, the same
        ports for appliances that remain, endpoints opened or closed for appliances added or
        removed, then every link re-run. A spec that cannot load changes nothing. Whether
        control endpoints run on the JVM is decided at :meth:`start` and kept."""
        if not self._running or self._lock is None:
            raise RuntimeError("the lab is not running")
        if new_spec.host != self._spec.host:
            raise InputError(
                "a reload cannot move the lab to another address",
                "run lab down and lab up to change the host",
            )
        new_ctx = _build_contexts(new_spec)
        async with self._lock:
            wanted = {(a.name, k) for a in new_spec.appliances for k in new_spec.endpoint_kinds(a)}
            gone = [key for key in (*self._servers, *self._jvm_keys) if key not in wanted]
            await self._close_servers(gone)
            self._ctx = new_ctx
            self._spec = new_spec
            for a in new_spec.appliances:
                await self._open_endpoints(a)
            self._defs = link_definitions(new_spec)
            names = {d.name for d in self._defs}
            self._links = {n: s for n, s in self._links.items() if n in names}
            if self._ike is not None:  # the daemons of pairs gone from the lab
                keep = sorted(new_spec.pairs()) if new_spec.heartbeat else []
                await asyncio.to_thread(self._ike.keep_only, keep)
            await self._run_links()
        log.info("lab reloaded: %d appliances", len(new_spec.appliances))

    async def run_links_now(self) -> None:
        """Run every link once, now (also done every ``spec.link_interval`` seconds)."""
        if self._lock is None:
            raise RuntimeError("the lab is not running")
        async with self._lock:
            await self._run_links()

    # -- status -------------------------------------------------------------------------

    def status(self) -> LabStatus:
        """Every endpoint, link, appliance and pair as last checked (never raises)."""
        spec = self._spec
        endpoints = []
        for a in spec.appliances:
            for kind in spec.endpoint_kinds(a):
                port = self._ports.get((a.name, kind))
                if port is not None:
                    endpoints.append(
                        EndpointStatus(
                            a.name,
                            kind,
                            spec.host,
                            port,
                            # the admin's browser opens each appliance's own GUI by its
                            # own hostname (an HA peer's, not the pair's virtual name),
                            # the name the offline admin-gui verdict checks
                            a.gui_name if kind == "gui" else a.peer_name,
                            kind == "heartbeat" or (kind == "control" and spec.mutual_verification),
                        )
                    )
        links = tuple(
            self._links.get(d.name)
            or LinkStatus(d.name, d.kind, d.client, d.server, self._address(d), None)
            for d in self._defs
        )
        by_name = {x.name: x for x in links}
        cam = spec.active_cam
        appliances = []
        for a in spec.appliances:
            if a.role == "cam":
                state = "Running" if self._running else "Stopped"
                appliances.append(ApplianceStatus(a.name, a.role, a.pair, a.ha_role, state))
                continue
            if cam is None:
                appliances.append(
                    ApplianceStatus(
                        a.name, a.role, a.pair, a.ha_role, NOT_CONNECTED, "no CAM in the lab"
                    )
                )
                continue
            st = by_name[f"status:{a.name}->{cam.name}"]
            if st.ok:
                state, detail = "Connected", None
            elif st.ok is None:
                state, detail = "Connecting", None
            else:
                state, detail = NOT_CONNECTED, _join_errors(st)
            appliances.append(ApplianceStatus(a.name, a.role, a.pair, a.ha_role, state, detail))
        pairs = []
        for pair, (primary, secondary) in sorted(spec.pairs().items()):
            hb = by_name.get(f"heartbeat:{secondary.name}->{primary.name}")
            if hb is None:  # the release has no certificate-keyed heartbeat (before 4.7)
                pairs.append(
                    PairStatus(pair, primary.name, secondary.name, None, NO_CERT_HEARTBEAT)
                )
            else:
                why = self._ike_reason() if hb.stack != IKE_LINK_STACK else None
                if hb.ok:
                    state, error = "HA up", None
                elif hb.ok is None:
                    state, error = "pending", None
                else:
                    state, error = HA_BROKEN, _join_errors(hb)
                pairs.append(
                    PairStatus(
                        pair, primary.name, secondary.name, hb.ok, state, error, hb.stack, why
                    )
                )
        return LabStatus(
            running=self._running,
            endpoints=tuple(endpoints),
            links=links,
            appliances=tuple(appliances),
            pairs=tuple(pairs),
            generated_at=utc_now_text(),
        )

    # -- servers ------------------------------------------------------------------------

    def _link_stack(self, d: _LinkDef) -> str:
        if (d.server, d.endpoint) in self._jvm_keys:
            return JAVA_STACK
        return "openssl-strict" if self._spec.strict_x509 else "openssl-default"

    def _address(self, d: _LinkDef) -> str:
        return f"{self._spec.host}:{self._ports.get((d.server, d.endpoint), 0)}"

    async def _open_endpoints(self, a: ApplianceSpec) -> None:
        for kind in self._spec.endpoint_kinds(a):
            key = (a.name, kind)
            # JSSE verifies: before 4.5 (no mutual verification) the control endpoint stays
            # an unverified Python one; a release change moves it (to a new port).
            on_jvm = kind == "control" and self._spec.mutual_verification
            if self._jvm is not None and on_jvm:
                if key in self._servers:
                    await self._close_servers([key])
                await self._serve_on_jvm(self._jvm, a)
                continue
            if key in self._jvm_keys:
                await self._close_servers([key])
            if key in self._servers:
                continue
            handler = self._make_handler(a.name, kind)
            try:
                server = await asyncio.start_server(
                    handler, host=self._spec.host, port=0, limit=_MAX_REQUEST
                )
            except OSError as exc:
                raise NetworkError(
                    f"cannot open the {kind} endpoint of {a.name} on {self._spec.host}: "
                    f"{exc.strerror or exc}",
                    "check that the address is a local loopback address and ports are free",
                ) from None
            self._servers[key] = server
            self._ports[key] = server.sockets[0].getsockname()[1]

    async def _serve_on_jvm(self, jvm: JsseHarness, a: ApplianceSpec) -> None:
        """Open (or re-key in place) ``a``'s control endpoint on the JVM."""
        m = a.identity
        port = await jvm.serve(
            f"{a.name}/control",
            cert_chain_pem=m.cert_chain_pem,
            key_pem=m.key_pem,
            trust_pem=m.trust_pem,
            host=self._spec.host,
            client_auth="need" if self._spec.mutual_verification else "none",
            from_name=a.name,
            role=a.role,
            timeout=self._spec.link_timeout,
            allowed_subjects=_allowed_subjects(self._spec) if a.role == "cam" else None,
        )
        self._ports[(a.name, "control")] = port
        self._jvm_keys.add((a.name, "control"))

    async def _close_servers(self, keys: list[tuple[str, str]]) -> None:
        for k in keys:
            if k in self._jvm_keys:
                self._jvm_keys.discard(k)
                if self._jvm is not None:
                    with contextlib.suppress(Exception):
                        await self._jvm.close_endpoint(f"{k[0]}/{k[1]}")
        servers = [self._servers.pop(k) for k in keys if k in self._servers]
        for k in keys:
            self._ports.pop(k, None)
        for s in servers:
            s.close()
        for s in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 2.0)

    def _make_handler(
        self, appliance: str, kind: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._handlers.add(task)
            try:
                await self._serve(appliance, kind, reader, writer)
            finally:
                if task is not None:
                    self._handlers.discard(task)

        return handler

    async def _serve(
        self,
        appliance: str,
        kind: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        peer = writer.get_extra_info("peername")
        addr: Addr = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        timeout = self._spec.link_timeout
        view: str | None = None
        try:
            assert self._ctx is not None
            ctx_kind = "https" if kind in HTTPS_KINDS else kind
            ctx = self._ctx.server[(appliance, ctx_kind)]
            # start_tls must be the handler's first await (no wait_for task in between):
            # it pauses reading synchronously, so the client's first bytes (ClientHello)
            # cannot land in the plain-text reader buffer and be lost.
            await writer.start_tls(ctx, ssl_handshake_timeout=timeout)
            allowed = self._spec.dn_authorization
            # 4.9: a CAS whose DN the CAM does not authorize is dropped without a reply
            cam = self._spec.appliance(appliance).role == "cam"
            if kind == "control" and allowed is not None and cam:
                view = _dn_refusal(writer, allowed, f"{addr[0]}:{addr[1]}")
                if view is not None:
                    return
            if kind in HTTPS_KINDS:
                await self._serve_http(appliance, kind, reader, writer)
            else:
                view = await self._serve_control(appliance, kind, reader, writer)
        except Exception as exc:
            view = describe_error(exc).message
            log.debug("%s %s endpoint: connection from %s failed: %s", appliance, kind, addr, view)
        finally:
            if addr in self._expected:
                fut = self._view(addr)
                if not fut.done():
                    fut.set_result(view)
            await _close_writer(writer)

    async def _serve_control(
        self,
        appliance: str,
        kind: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> str | None:
        line = await asyncio.wait_for(reader.readline(), self._spec.link_timeout)
        if not line:
            return None
        try:
            req = json.loads(line)
        except ValueError:
            req = {}
        error: str | None = None
        me = self._spec.appliance(appliance)
        if kind == "heartbeat":
            sslobj = writer.get_extra_info("ssl_object")
            peer_der = sslobj.getpeercert(binary_form=True) if sslobj else None
            own = me.heartbeat_material.leaf_der
            if peer_der != own:
                error = _mismatch(str(req.get("from", "the peer")), peer_der, appliance, own)
        reply = {"ok": error is None, "from": appliance, "role": me.role, "error": error}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        return error

    async def _serve_http(
        self,
        appliance: str,
        kind: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._spec.link_timeout)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        parts = head.split(b"\r\n", 1)[0].split()
        method = parts[0].decode("ascii", "replace") if parts else ""
        path = parts[1].decode("ascii", "replace") if len(parts) > 1 else "/"
        role = self._spec.appliance(appliance).role
        if method not in ("GET", "HEAD"):
            data = response(405, "Method Not Allowed", "text/plain", b"read-only lab\n")
        elif path.split("?", 1)[0] != "/":
            data = response(404, "Not Found", "text/plain", b"not found\n", head=method == "HEAD")
        else:
            ctype, body = page_for(appliance, role, kind)
            data = response(200, "OK", ctype, body, head=method == "HEAD")
        writer.write(data)
        await writer.drain()

    # -- links --------------------------------------------------------------------------

    def _view(self, addr: Addr) -> asyncio.Future[str | None]:
        fut = self._views.get(addr)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._views[addr] = fut
        return fut

    async def _periodic(self, *, first: bool = False) -> None:
        assert self._lock is not None
        if first:
            async with self._lock:
                await self._run_links()
        while True:
            await asyncio.sleep(self._spec.link_interval)
            async with self._lock:
                await self._run_links()

    async def _run_links(self) -> None:
        sem = asyncio.Semaphore(_LINK_CONCURRENCY)

        async def one(d: _LinkDef) -> LinkStatus:
            async with sem:
                return await self._run_link(d)

        results = await asyncio.gather(*(one(d) for d in self._defs))
        if self._ike_reason() is not None:  # the harness failed, or IKE is off: free them
            await self._stop_ike()
        for d, res in zip(self._defs, results, strict=True):
            old = self._links.get(d.name)
            if old is None or old.ok != res.ok or old.error != res.error:
                level = logging.INFO if res.ok else logging.WARNING
                log.log(
                    level,
                    "link %s %s%s",
                    d.name,
                    res.state,
                    f": {_join_errors(res)}" if not res.ok else "",
                )
            self._links[d.name] = res
        self.rounds += 1
        if self._on_update is not None:
            self._on_update()

    async def _run_link(self, d: _LinkDef) -> LinkStatus:
        spec = self._spec
        assert self._ctx is not None
        client = spec.appliance(d.client)
        server = spec.appliance(d.server)
        material = client.heartbeat_material if d.material == "heartbeat" else client.identity
        ctx = self._ctx.client[(d.client, d.material)]
        port = self._ports[(d.server, d.endpoint)]
        timeout = spec.link_timeout
        base = LinkStatus(
            d.name,
            d.kind,
            d.client,
            d.server,
            f"{spec.host}:{port}",
            False,
            checked_at=utc_now_text(),
            stack=self._link_stack(d),
        )
        if self._jvm is not None and base.stack == JAVA_STACK:
            return await self._run_jsse_link(self._jvm, d, base, material, port)
        ike = self._ike_runner() if d.kind == "heartbeat" else None
        if ike is not None:
            by_ike = await self._run_ike_link(ike, d, base)
            if by_ike is not None:
                return by_ike
        writer: asyncio.StreamWriter | None = None
        local: Addr | None = None
        start = time.perf_counter()
        result: LinkStatus
        try:
            reader, w = await asyncio.wait_for(
                asyncio.open_connection(spec.host, port, limit=_MAX_REQUEST), timeout
            )
            writer = w
            sock = w.get_extra_info("sockname")
            local = (str(sock[0]), int(sock[1]))
            self._expected.add(local)
            await asyncio.wait_for(w.start_tls(ctx, server_hostname=server.peer_name), timeout)
            elapsed = time.perf_counter() - start
            if d.kind == "heartbeat":
                sslobj = w.get_extra_info("ssl_object")
                peer_der = sslobj.getpeercert(binary_form=True) if sslobj else None
                if peer_der != material.leaf_der:
                    err = _mismatch(d.server, peer_der, d.client, material.leaf_der)
                    raise _LinkRefused(err)
            hello = {"from": d.client, "kind": d.kind, "role": client.role}
            w.write(json.dumps(hello).encode() + b"\n")
            await w.drain()
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                raise EOFError("closed")
            reply = json.loads(line)
            if reply.get("ok") is True:
                result = replace(base, ok=True, handshake_seconds=elapsed)
            else:
                result = replace(
                    base,
                    error=str(reply.get("error") or "refused by the peer"),
                    handshake_seconds=elapsed,
                )
        except _LinkRefused as exc:
            result = replace(base, error=str(exc), handshake_seconds=time.perf_counter() - start)
        except Exception as exc:
            f = describe_error(exc)
            result = replace(base, error=f.message, verify_code=f.verify_code)
        finally:
            if writer is not None:
                await _close_writer(writer)
        if local is not None:
            result = await self._with_server_view(result, local)
        return result

    async def _run_jsse_link(
        self, jvm: JsseHarness, d: _LinkDef, base: LinkStatus, material: EndpointMaterial, port: int
    ) -> LinkStatus:
        """The link made by a JSSE client against the server's JSSE endpoint."""
        spec = self._spec
        client = spec.appliance(d.client)
        hello = json.dumps({"from": d.client, "kind": d.kind, "role": client.role})
        try:
            res = await jvm.connect(
                spec.host,
                port,
                server_name=spec.appliance(d.server).peer_name,
                trust_pem=material.trust_pem,
                cert_chain_pem=material.cert_chain_pem,
                key_pem=material.key_pem,
                check_hostname=spec.check_peer_names,
                hello=hello,
                timeout=spec.link_timeout,
            )
        except Exception as exc:  # the JVM died: the link is down, the lab keeps running
            return replace(base, error=str(exc))
        if res.ok:
            try:
                reply = json.loads(res.reply or "")
            except ValueError:
                reply = {}
            if reply.get("ok") is True:
                return replace(base, ok=True, handshake_seconds=res.handshake_seconds)
            return replace(
                base,
                error=str(reply.get("error") or "refused by the peer"),
                handshake_seconds=res.handshake_seconds,
            )
        return replace(
            base,
            error=res.error or "failed",
            server_error=res.server_error if res.server_error != res.error else None,
            handshake_seconds=res.handshake_seconds,
        )

    async def _run_ike_link(
        self, ike: KeptPairs, d: _LinkDef, base: LinkStatus
    ) -> LinkStatus | None:
        """The heartbeat of ``d``'s pair by strongSwan: IKEv2 both ways (primary first) on
        the pair's kept daemons, with each member's heartbeat material and trust store; the
        link is up when IKE_AUTH succeeds both ways. None when the harness cannot run (the
        caller falls back to the TLS emulation; ``_ike_why`` says why from then on)."""
        spec = self._spec
        pair = spec.appliance(d.client).pair
        if pair is None:  # pragma: no cover - heartbeat links join the members of a pair
            return None
        primary, secondary = pair_peers(spec, pair)
        try:
            run = await asyncio.to_thread(ike.run, pair, primary, secondary)
        except (CcapkiError, OSError, subprocess.SubprocessError) as exc:
            why = exc.message if isinstance(exc, CcapkiError) else str(exc)
            self._ike_why = f"the strongSwan harness failed: {why}"
            log.warning("heartbeat %s: %s; the TLS emulation judges it", pair, self._ike_why)
            return None
        errors = list(run.errors)
        mine = spec.appliance(d.client).heartbeat_material.leaf_der
        theirs = spec.appliance(d.server).heartbeat_material.leaf_der
        if mine != theirs:  # ccapki's HA rule: failover needs the one certificate and key
            note = " (IKE_AUTH itself succeeded)" if run.ok else ""
            errors.insert(0, _mismatch(d.server, theirs, d.client, mine) + note)
        seconds = sum(o.seconds for o in run.outcomes)
        return replace(
            base,
            address=pair_addresses(),
            ok=not errors,
            error="; ".join(errors) or None,
            handshake_seconds=seconds if run.outcomes else None,
            stack=IKE_LINK_STACK,
        )

    async def _with_server_view(self, result: LinkStatus, local: Addr) -> LinkStatus:
        fut = self._view(local)
        try:
            if not result.ok and not fut.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), 1.0)
            view = fut.result() if fut.done() and not fut.cancelled() else None
        finally:
            self._views.pop(local, None)
            self._expected.discard(local)
        if view and not result.ok and view != result.error:
            return replace(result, server_error=view)
        return result


def _mismatch(peer: str, peer_der: bytes | None, me: str, own_der: bytes) -> str:
    theirs = sha256_hex(peer_der)[:16] if peer_der else "nothing"
    return (
        f"HA peers hold different identities: {peer} presents certificate {theirs}…, "
        f"{me} holds {sha256_hex(own_der)[:16]}…; both peers must hold the same certificate "
        "and key"
    )


def _allowed_subjects(spec: LabSpec) -> list[bytes] | None:
    """4.9: the DER subjects the CAM's JVM endpoint serves: every certificate of the spec
    whose RFC 4514 subject is authorized (exactly what :func:`_dn_refusal` compares), and
    each authorized DN as cryptography encodes it."""
    from cryptography import x509

    allowed = spec.dn_authorization
    if allowed is None:
        return None
    out: list[bytes] = []
    for a in spec.appliances:
        for m in (a.identity, a.heartbeat_material):
            subject = x509.load_der_x509_certificate(m.leaf_der).subject
            if subject.rfc4514_string() in allowed:
                out.append(subject.public_bytes())
    for dn in allowed:
        with contextlib.suppress(ValueError):
            out.append(x509.Name.from_rfc4514_string(dn).public_bytes())
    return out


def _dn_refusal(writer: asyncio.StreamWriter, allowed: tuple[str, ...], who: str) -> str | None:
    """4.9: the CAM serves a CAS only when its certificate's subject DN is authorized."""
    from cryptography import x509

    sslobj = writer.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True) if sslobj else None
    if der is None:
        return f"{who or 'the peer'} presented no certificate: no DN to authorize"
    dn = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    if dn in allowed:
        return None
    return (
        f"{who or 'the peer'}'s certificate DN {dn!r} is not authorized on the CAM "
        "(4.9 CAM-CAS authorization)"
    )


def _join_errors(link: LinkStatus) -> str:
    parts = [p for p in (link.error, link.server_error) if p]
    if link.server_error:
        return f"{link.error} (the {link.server} side: {link.server_error})"
    return "; ".join(parts) or "failed"
