"""Run the differential corpus through the real stacks and through ccapki's offline verdicts.

Each :class:`~ccapki.lab.corpus.CorpusCase` goes through every stack available here:

- ``java-pkix``: a real JSSE handshake in one JVM (:mod:`ccapki.lab.jsse`): the case's chain
  served, the client trusting the case's roots, endpoint identification ``HTTPS`` (for a
  client case: the server requires and verifies the client's chain);
- ``openssl-default`` / ``openssl-strict``: ``openssl verify`` with the purpose, the name and
  ``-auth_level 2`` (Debian's default TLS security level), without / with ``-x509_strict``;
- ``gnutls``: ``certtool --verify`` with the name, the purpose and ``--verify-profile low``
  (the verification of gnutls-cli's NORMAL priority);
- ``nss``: ``certutil -V`` in a fresh NSS database (usage SSL server or client; NSS checks
  names in its TLS layer, not here, so the name is left out of both sides for this stack);
- ``chromium``: headless Chromium fetching ``https://<name>:<port>/`` from a Python TLS
  server presenting the case's chain, the case's roots trusted in the NSS database of a
  temporary HOME (server cases only: Chromium presents no client certificate here).

The offline side asks :func:`ccapki.trust.verify_for_stack` for the same stack.
:func:`run_corpus` returns a :class:`Report`; :func:`render_markdown` writes
``docs/stacks.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ccapki.errors import CcapkiError, InputError
from ccapki.lab.corpus import CorpusCase, build_corpus
from ccapki.lab.ipsec import IpsecPair, IpsecPeer, ipsec_unavailable
from ccapki.lab.jsse import JsseHarness
from ccapki.pki.certs import is_ca
from ccapki.topology.releases import CHANNEL_STACKS
from ccapki.trust import verify_for_stack
from ccapki.trust._stacks import stack_rules_markdown

__all__ = [
    "KNOWN_DIFFERENCES",
    "STACKS",
    "STRONGSWAN_PAIRS",
    "Outcome",
    "Report",
    "available_stacks",
    "offline_verdict",
    "render_markdown",
    "run_corpus",
]

#: Every stack the corpus can run, in table order, with what it needs on PATH.
STACKS: dict[str, tuple[str, ...]] = {
    "java-pkix": ("java", "javac"),
    "openssl-default": ("openssl",),
    "openssl-strict": ("openssl",),
    "gnutls": ("certtool",),
    "nss": ("certutil",),
    "chromium": ("chromium", "certutil"),
    # always listed: without root or strongSwan its column says "not available" and why
    "strongswan": (),
}

#: The pairs of charon daemons the strongswan column runs side by side (each reused from
#: case to case: new material is loaded into running daemons).
STRONGSWAN_PAIRS = 3

#: Why a real stack and ccapki's model of it differ on a case (see KNOWN_DIFFERENCES). Every
#: other difference the corpus once showed is modelled in ccapki.trust._stacks (each rule
#: cites the stack's source) and tested in tests/trust/test_stack_rules.py.
_WHY: dict[str, tuple[tuple[str, ...], str]] = {
    "duplicate-extension": (
        ("nss", "strongswan"),
        "NSS's certutil and strongSwan's x509 parser accept a certificate that repeats "
        "subjectAltName (RFC 5280 4.2 forbids it; OpenSSL, GnuTLS and Java refuse it; charon "
        "brings the IKE_SA up with it). cryptography cannot read the "
        "extensions of such a certificate (x509.DuplicateExtension) nor verify a chain "
        "through it, so ccapki cannot check its names, usages or constraints for any stack "
        "and refuses it everywhere rather than guess which copy the stack reads.",
    ),
}

#: Known differences between a stack and ccapki's model of it, with the reason. The test
#: fails on any difference NOT listed here (a regression); a listed one that now agrees is
#: fine (fixed). Keys: (case, stack).
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    (key.split("/")[0], stack): why for key, (stacks, why) in _WHY.items() for stack in stacks
}

_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


@dataclass(frozen=True)
class Outcome:
    """One verdict: ``ok`` (None: the stack could not judge it) and why."""

    ok: bool | None
    detail: str = ""

    @property
    def mark(self) -> str:
        return "n/a" if self.ok is None else ("pass" if self.ok else "fail")


@dataclass
class Report:
    """Real and offline outcomes per (case, stack)."""

    cases: list[CorpusCase]
    stacks: list[str]
    real: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    offline: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    checked_at: str = ""
    #: wall-clock seconds of the stacks timed on their own (``strongswan``)
    stack_seconds: dict[str, float] = field(default_factory=dict)

    def agrees(self, case: str, stack: str) -> bool | None:
        """Whether both sides agree (None when the real stack could not judge)."""
        r, o = self.real.get((case, stack)), self.offline.get((case, stack))
        if r is None or o is None or r.ok is None:
            return None
        return r.ok == o.ok

    def agreement(self, stack: str) -> tuple[int, int]:
        """(agreeing, judged) cases for ``stack``."""
        got = [self.agrees(c.name, stack) for c in self.cases]
        judged = [g for g in got if g is not None]
        return sum(judged), len(judged)

    def unavailable(self, stack: str) -> str | None:
        """Why ``stack`` could not run here at all (None: it ran)."""
        got = [self.real.get((c.name, stack)) for c in self.cases]
        if got and all(
            o is not None and o.ok is None and o.detail.startswith(_NOT_AVAILABLE) for o in got
        ):
            return got[0].detail.removeprefix(_NOT_AVAILABLE) if got[0] else None
        return None

    def differences(self) -> list[tuple[CorpusCase, str]]:
        """Every (case, stack) where the real stack and ccapki disagree."""
        return [(c, s) for c in self.cases for s in self.stacks if self.agrees(c.name, s) is False]


def available_stacks() -> list[str]:
    """The stacks whose programs are on PATH here."""
    return [s for s, tools in STACKS.items() if all(shutil.which(t) for t in tools)]


# -- offline ----------------------------------------------------------------------------


def offline_verdict(case: CorpusCase, stack: str, now: dt.datetime) -> Outcome:
    """ccapki's verdict for ``case`` as ``stack`` would judge it (for ``strongswan`` the
    heartbeat's: no name, the IKE identity is the certificate's DN)."""
    peer = None if stack in ("nss", "strongswan") else case.peer_name
    try:
        v = verify_for_stack(
            stack,
            case.leaf,
            list(case.presented),
            list(case.roots),
            purpose=case.purpose,
            peer_name=peer,
            at=now,
        )
    except Exception as exc:  # a crash is a verdict too: it is reported, never hidden
        return Outcome(False, f"ccapki raised {type(exc).__name__}: {exc}")
    codes = sorted({f.code for f in v.findings if getattr(f, "severity", "error") == "error"})
    detail = ", ".join(str(c) for c in codes) or (v.raw_error or "")
    return Outcome(bool(v.ok), detail)


# -- real stacks ------------------------------------------------------------------------


def _write(folder: Path, case: CorpusCase) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leaf.pem").write_bytes(
        case.chain_pem().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    )
    (folder / "presented.pem").write_bytes(b"".join(_pem(c) for c in case.presented))
    (folder / "full.pem").write_bytes(case.chain_pem())
    (folder / "roots.pem").write_bytes(case.roots_pem())


def _pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def _run(args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "LC_ALL": "C"},
    )  # fmt: skip


def _last_line(text: str, needle: str = "") -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if needle:
        lines = [ln for ln in lines if needle in ln] or lines
    return lines[-1][:300] if lines else ""


def _openssl(case: CorpusCase, folder: Path, *, strict: bool) -> Outcome:
    args = ["openssl", "verify", "-CAfile", str(folder / "roots.pem"), "-auth_level", "2"]
    if case.presented:
        args += ["-untrusted", str(folder / "presented.pem")]
    if strict:
        args.append("-x509_strict")
    args += ["-purpose", "sslserver" if case.purpose == "server" else "sslclient"]
    if case.peer_name:
        flag = "-verify_ip" if case.peer_name[0].isdigit() else "-verify_hostname"
        args += [flag, case.peer_name]
    args.append(str(folder / "leaf.pem"))
    proc = _run(args)
    if proc.returncode == 0:
        return Outcome(True, "OK")
    out = (proc.stderr + proc.stdout).replace(str(folder) + "/", "")
    return Outcome(False, _last_line(out, " at ") if " at " in out else _last_line(out))


def _gnutls(case: CorpusCase, folder: Path) -> Outcome:
    args = [
        "certtool", "--verify", "--verify-profile", "low",
        "--load-ca-certificate", str(folder / "roots.pem"), "--infile", str(folder / "full.pem"),
        "--verify-purpose", _SERVER_AUTH if case.purpose == "server" else _CLIENT_AUTH,
    ]  # fmt: skip
    if case.peer_name:
        args += ["--verify-hostname", case.peer_name]
    proc = _run(args)
    out = proc.stdout + proc.stderr
    line = _last_line(out, "Chain verification output")
    if proc.returncode == 0 and "Verified" in line and "Not verified" not in line:
        return Outcome(True, "Verified")
    if "Chain verification output" not in out:  # certtool could not even load it
        return Outcome(False, f"certtool: {_last_line(out, 'rror')}")
    return Outcome(False, line.replace("Chain verification output: ", ""))


def _is_ca(cert: x509.Certificate) -> bool:
    """Whether an NSS database trusts ``cert`` as a CA (``C``) or as itself, a trusted peer
    (``P``: what an administrator picks for a true self-signed server certificate, the
    browser's "Servers" tab; trusted as a CA only, certutil says 'Issuer certificate is
    invalid' and Chromium ERR_CERT_INVALID). A version 1 root has no basicConstraints: a CA."""
    return cert.version is x509.Version.v1 or is_ca(cert)


def _nss(case: CorpusCase, folder: Path) -> Outcome:
    db = folder / "nssdb"
    db.mkdir(exist_ok=True)
    d = f"sql:{db}"
    _run(["certutil", "-N", "-d", d, "--empty-password"])
    for i, root in enumerate(case.roots):
        p = folder / f"root{i}.pem"
        p.write_bytes(_pem(root))
        flags = "CT,C,C" if _is_ca(root) else "P,P,P"
        _run(["certutil", "-A", "-d", d, "-n", f"root{i}", "-t", flags, "-a", "-i", str(p)])
    for i, c in enumerate(case.presented):
        if c in case.roots:  # importing it again untrusted would take its trust away
            continue
        p = folder / f"presented{i}.pem"
        p.write_bytes(_pem(c))
        _run(["certutil", "-A", "-d", d, "-n", f"presented{i}", "-t", ",,", "-a", "-i", str(p)])
    nick = f"root{case.roots.index(case.leaf)}" if case.leaf in case.roots else "leaf"
    added = _run(
        ["certutil", "-A", "-d", d, "-n", "leaf", "-t", ",,", "-a", "-i", str(folder / "leaf.pem")]
    ) if nick == "leaf" else None  # fmt: skip
    if added is not None and added.returncode != 0:
        return Outcome(
            False, f"certutil -A refused the leaf: {_last_line(added.stderr + added.stdout)}"
        )
    usage = "V" if case.purpose == "server" else "C"
    proc = _run(["certutil", "-V", "-d", d, "-n", nick, "-u", usage, "-e"])
    out = proc.stdout + proc.stderr
    if proc.returncode == 0 and "certificate is valid" in out:
        return Outcome(True, "certificate is valid")
    return Outcome(False, _last_line(out))


_PAGE_TITLE = "ccapki corpus page"
_CHROMIUM_ERROR = re.compile(r"\b(ERR_(?:CERT|SSL|BAD_SSL|CONNECTION|TIMED)[A-Z_]*)\b")


class _Page(BaseHTTPRequestHandler):
    """The page Chromium loads when it accepts the chain."""

    def do_GET(self) -> None:
        body = f"<html><head><title>{_PAGE_TITLE}</title></head><body>ok</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _TlsPages(ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 presenting one case's chain (the TLS handshake runs in
    each connection's thread, so a refused handshake never stalls the others)."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Page)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):  # the browser refused the certificate: its verdict
            return
        try:
            _Page(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


def _chromium(case: CorpusCase, folder: Path) -> Outcome:
    """Headless Chromium loads ``https://<name>:<port>/`` (the name mapped to 127.0.0.1)
    from a server presenting the case's chain, with the case's roots trusted (``C,,``, or
    ``P,,`` for a certificate that is not a CA) in the NSS database of a temporary HOME, as
    on a Linux admin's desktop."""
    if case.purpose != "server" or not case.peer_name:
        return Outcome(None, "Chromium is judged as a TLS client only (no client certificate)")
    home = folder / "chromium-home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    _run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"])
    for i, root in enumerate(case.roots):
        p = folder / f"chromium-root{i}.pem"
        p.write_bytes(_pem(root))
        flags = "C,," if _is_ca(root) else "P,,"
        _run(["certutil", "-A", "-d", f"sql:{db}", "-n", f"root{i}", "-t", flags, "-i", str(p)])
    (folder / "chromium-chain.pem").write_bytes(case.chain_pem())
    (folder / "chromium-key.pem").write_bytes(case.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # serve weak material too: the browser judges
    try:
        context.load_cert_chain(folder / "chromium-chain.pem", folder / "chromium-key.pem")
    except (ssl.SSLError, OSError) as exc:
        return Outcome(None, f"the test server could not present the chain: {exc}")
    server = _TlsPages(context)
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = case.peer_name
    url_host = f"[{host}]" if ":" in host else host
    try:
        proc = subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={folder / 'chromium-profile'}",
                f"--host-resolver-rules=MAP {host} 127.0.0.1", "--dump-dom",
                f"https://{url_host}:{port}/",
            ],
            capture_output=True, text=True, timeout=90, check=False,
            env={**os.environ, "HOME": str(home), "LC_ALL": "C"},
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    if f"<title>{_PAGE_TITLE}</title>" in proc.stdout:
        return Outcome(True, "page loaded")
    found = _CHROMIUM_ERROR.findall(proc.stdout + proc.stderr)
    if found:
        return Outcome(False, ", ".join(dict.fromkeys(found)))
    return Outcome(None, f"Chromium gave no verdict: {_last_line(proc.stderr)}")


async def _jsse_all(cases: Sequence[CorpusCase], helper: CorpusCase) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    async with JsseHarness() as jvm:
        sem = asyncio.Semaphore(8)

        async def one(case: CorpusCase) -> None:
            async with sem:
                try:
                    out[case.name] = await _jsse_one(jvm, case, helper)
                except Exception as exc:  # the JVM refused the material itself
                    out[case.name] = Outcome(False, str(getattr(exc, "message", exc))[:300])

        await asyncio.gather(*(one(c) for c in cases))
    return out


async def _jsse_one(jvm: JsseHarness, case: CorpusCase, helper: CorpusCase) -> Outcome:
    if case.purpose == "server":
        port = await jvm.serve(
            f"corpus/{case.name}",
            cert_chain_pem=case.chain_pem(),
            key_pem=case.key_pem(),
            client_auth="none",
        )
        host = case.peer_name or "localhost"
        r = await jvm.connect(
            "127.0.0.1", port, server_name=host, trust_pem=case.roots_pem(), hello="{}"
        )
        await jvm.close_endpoint(f"corpus/{case.name}")
        return Outcome(True, "handshake ok") if r.ok else Outcome(False, r.error or "")
    # a client case: a good server that requires and verifies the case's client chain
    port = await jvm.serve(
        f"corpus/{case.name}",
        cert_chain_pem=helper.chain_pem(),
        key_pem=helper.key_pem(),
        trust_pem=case.roots_pem(),
        client_auth="need",
    )
    r = await jvm.connect(
        "127.0.0.1",
        port,
        server_name="localhost",
        trust_pem=helper.roots_pem(),
        cert_chain_pem=case.chain_pem(),
        key_pem=case.key_pem(),
        check_hostname=False,
        hello="{}",
    )
    await jvm.close_endpoint(f"corpus/{case.name}")
    if r.ok:
        return Outcome(True, "handshake ok")
    return Outcome(False, r.server_error or r.error or "")


_NOT_AVAILABLE = "not available: "
_HEARTBEAT_ONLY = (
    "the heartbeat has no client side: both peers present the pair's certificate (the "
    "server cases are the heartbeat's)"
)


def _swan_peers(case: CorpusCase) -> tuple[IpsecPeer, IpsecPeer]:
    """The HA pair of ``case``: both peers hold its chain and key, each trusts its roots."""
    chain, key, trust = case.chain_pem(), case.key_pem(), case.roots_pem()
    return IpsecPeer("a", chain, key, trust), IpsecPeer("b", chain, key, trust)


def _swan_outcome(pair: IpsecPair, case: CorpusCase) -> Outcome:
    try:
        pair.reload(*_swan_peers(case))
    except InputError as exc:  # strongSwan would not load the pair's own material
        why = re.sub(
            r"ccapki-hb\d+-\d+-([ab])/", r"\1/", exc.message.replace(f"{pair.workdir}/", "")
        )
        return Outcome(False, f"strongSwan would not load it: {why}"[:300])
    o = pair.negotiate("a")
    if o.established:
        return Outcome(True, "IKE_SA established")
    if o.refused_by is None:  # no side refused: no answer in time, not a verdict
        return Outcome(None, f"no verdict: {o.reason}"[:300])
    return Outcome(False, o.reason[:300])


def _bootstrap_peers() -> tuple[IpsecPeer, IpsecPeer]:
    """What the daemons hold before the first case: a throwaway self-signed identity."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ccapki corpus bootstrap")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = _pem(cert)
    return IpsecPeer("a", pem, key_pem, pem), IpsecPeer("b", pem, key_pem, pem)


def _strongswan_all(cases: Sequence[CorpusCase], pairs: int) -> dict[str, Outcome]:
    """Every server case negotiated by two charon daemons holding its chain (one
    initiator -> responder exchange: each peer authenticates the other), ``pairs`` pairs of
    daemons side by side, each reused across cases (new material loaded into the running
    daemons, their certificate caches flushed)."""
    why = ipsec_unavailable()
    if why is not None:
        return {c.name: Outcome(None, f"{_NOT_AVAILABLE}{why}") for c in cases}
    out = {c.name: Outcome(None, _HEARTBEAT_ONLY) for c in cases if c.purpose != "server"}
    queue = [c for c in reversed(cases) if c.purpose == "server"]
    lock = threading.Lock()

    def worker() -> None:
        with IpsecPair(*_bootstrap_peers(), timeout=5.0) as pair:
            while True:
                with lock:
                    if not queue:
                        return
                    case = queue.pop()
                try:
                    out[case.name] = _swan_outcome(pair, case)
                except Exception as exc:  # the harness failed: no verdict, never agreement
                    out[case.name] = Outcome(None, f"could not run: {exc}"[:300])

    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=pairs) as pool:
        for fut in [pool.submit(worker) for _ in range(min(pairs, len(queue)))]:
            try:
                fut.result()
            except CcapkiError as exc:  # a pair would not start: the others go on
                failures.append(exc.message)
    why = "; ".join(dict.fromkeys(failures)) or "not judged"
    return {c.name: out.get(c.name, Outcome(None, f"{_NOT_AVAILABLE}{why}")) for c in cases}


def run_corpus(
    stacks: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
    cases: Sequence[CorpusCase] | None = None,
    workers: int = 4,
) -> Report:
    """Build the corpus (from the wall clock: the stacks check validity against it) and run
    it through ``stacks`` (default: every available one) and the offline verdicts."""
    start = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    todo = list(cases) if cases is not None else build_corpus(now)
    chosen = list(stacks) if stacks is not None else available_stacks()
    browser_jobs: dict[tuple[str, str], Callable[[], Outcome]] = {}
    report = Report(todo, chosen, checked_at=now.isoformat(timespec="seconds"))
    for c in todo:
        for s in chosen:
            report.offline[(c.name, s)] = offline_verdict(c, s, now)
    with tempfile.TemporaryDirectory(prefix="ccapki-corpus-") as tmp:
        root = Path(tmp)
        for c in todo:
            _write(root / c.name, c)
        jobs: dict[tuple[str, str], Callable[[], Outcome]] = {}
        for c in todo:
            folder = root / c.name
            if "openssl-default" in chosen:
                jobs[(c.name, "openssl-default")] = _bind(_openssl, c, folder, strict=False)
            if "openssl-strict" in chosen:
                jobs[(c.name, "openssl-strict")] = _bind(_openssl, c, folder, strict=True)
            if "gnutls" in chosen:
                jobs[(c.name, "gnutls")] = _bind(_gnutls, c, folder)
            if "nss" in chosen:
                jobs[(c.name, "nss")] = _bind(_nss, c, folder)
            if "chromium" in chosen:
                browser_jobs[(c.name, "chromium")] = _bind(_chromium, c, folder)
        # browsers are heavy: at most two at a time, beside the command-line tools
        with (
            ThreadPoolExecutor(max_workers=workers) as pool,
            ThreadPoolExecutor(max_workers=2) as browsers,
            ThreadPoolExecutor(max_workers=1) as ipsec,
        ):
            futures = {k: pool.submit(f) for k, f in jobs.items()}
            futures |= {k: browsers.submit(f) for k, f in browser_jobs.items()}
            swan = (
                ipsec.submit(_timed, _strongswan_all, todo, STRONGSWAN_PAIRS)
                if "strongswan" in chosen
                else None
            )
            if "java-pkix" in chosen:
                helper = next(c for c in build_corpus(now) if c.name == "good")
                for name, o in asyncio.run(_jsse_all(todo, helper)).items():
                    report.real[(name, "java-pkix")] = o
            for k, fut in futures.items():
                try:
                    report.real[k] = fut.result()
                except Exception as exc:
                    report.real[k] = Outcome(None, f"could not run: {exc}")
            if swan is not None:
                outcomes, report.stack_seconds["strongswan"] = swan.result()
                for name, o in outcomes.items():
                    report.real[(name, "strongswan")] = o
    report.seconds = time.perf_counter() - start
    return report


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    return fn(*args), time.perf_counter() - start


def _bind(fn: Callable[..., Outcome], *args: Any, **kwargs: Any) -> Callable[[], Outcome]:
    return lambda: fn(*args, **kwargs)


# -- the table --------------------------------------------------------------------------


def _cell(report: Report, case: str, stack: str) -> str:
    r, o = report.real.get((case, stack)), report.offline.get((case, stack))
    if r is None or o is None:
        return ""
    flag = "" if report.agrees(case, stack) is not False else " **≠**"
    real = "not available" if r.detail.startswith(_NOT_AVAILABLE) else r.mark
    return f"{real} / {o.mark}{flag}"


def render_markdown(report: Report) -> str:
    """``docs/stacks.md``: the case x stack table, agreement per stack, every difference."""
    lines = [
        "# Stacks: real verdicts beside ccapki's",
        "",
        "Generated by `python tools/differential.py --write docs/stacks.md` "
        f"({len(report.cases)} cases, run {report.checked_at}, {report.seconds:.1f} s"
        + "".join(f"; {s} column {t:.1f} s" for s, t in report.stack_seconds.items())
        + "). Do not edit by hand.",
        "",
        "Each cell is `real / ccapki`: the verdict of the real stack, then ccapki's offline "
        "verdict for that stack (`pass`, `fail`, `n/a` when the stack could not judge). "
        "**≠** marks a difference; each is listed below with its reason.",
        "",
        "How each stack is run:",
        "",
        "- `java-pkix`: a real JSSE handshake in one JVM (`src/ccapki/lab/java/CcaJsse.java`): "
        "PKIX trust manager over the case's roots, endpoint identification `HTTPS`; client "
        "cases are verified by a JSSE server requiring the client certificate.",
        "- `openssl-default` / `openssl-strict`: `openssl verify -auth_level 2` (Debian's "
        "default security level) with the purpose and the name, without / with `-x509_strict`.",
        "- `gnutls`: `certtool --verify --verify-profile low` (gnutls-cli's NORMAL "
        "verification) with the purpose and the name.",
        "- `nss`: `certutil -V -u V|C` in a fresh NSS database (roots trusted `CT,C,C`, "
        "presented certificates imported untrusted; a trusted certificate that is not a CA is "
        "trusted as a peer, `P,P,P`). certutil checks no names: the name is "
        "left out of both sides for this column (the `chromium` column checks them).",
        "- `chromium`: headless Chromium loads `https://<name>:<port>/` (the name mapped to "
        "127.0.0.1 by `--host-resolver-rules`) from a Python TLS server presenting the case's "
        "chain, with the case's roots trusted (`C,,`; `P,,` for one that is not a CA) in the "
        "NSS database of a temporary HOME. Client cases are `n/a`: Chromium is judged as a "
        "TLS client only.",
        "- `strongswan`: the HA heartbeat for real: two strongSwan charon daemons in two "
        "network namespaces (`src/ccapki/lab/ipsec.py`), both holding the case's chain and key "
        "as the pair's certificate and trusting the case's roots, negotiate IKEv2; `pass` is "
        "IKE_AUTH succeeding (each peer authenticated the other; the CHILD_SA after it is not "
        "judged). No name is checked: the IKE identity is the certificate's subject DN, on "
        "both sides. Client cases are `n/a`: the heartbeat has no client side. The daemons "
        "are reused from case to case (new material loaded, certificate cache flushed). Needs "
        "root and strongSwan; without them the column says `not available` and why.",
        "",
        # the channel -> stack table and each stack's modelled rules (issue 10, item 2)
        *stack_rules_markdown(CHANNEL_STACKS),
        "",
        "## Agreement per stack",
        "",
        "| stack | agree | judged | agreement |",
        "|---|---|---|---|",
    ]
    for s in report.stacks:
        ok, n = report.agreement(s)
        missing = report.unavailable(s)
        pct = f"{100 * ok / n:.0f} %" if n else (f"not available ({missing})" if missing else "-")
        lines.append(f"| {s} | {ok} | {n} | {_md(pct)} |")
    lines += ["", "## Cases", "", "| case | what | " + " | ".join(report.stacks) + " |"]
    lines.append("|---|---|" + "---|" * len(report.stacks))
    for c in report.cases:
        cells = " | ".join(_cell(report, c.name, s) for s in report.stacks)
        lines.append(f"| `{c.name}` | {c.description} | {cells} |")
    lines += ["", "## Differences", ""]
    diffs = report.differences()
    if not diffs:
        lines.append("None: ccapki agrees with every stack on every case.")
    for c, s in diffs:
        r, o = report.real[(c.name, s)], report.offline[(c.name, s)]
        why = KNOWN_DIFFERENCES.get((c.name, s), "not yet modelled")
        lines.append(
            f"- `{c.name}` on `{s}`: the stack says **{r.mark}** ({_md(r.detail)}), ccapki "
            f"says **{o.mark}** ({_md(o.detail) or 'no finding'}). Reason: {why}"
        )
    lines += ["", "## Real stack messages", ""]
    lines.append("| case | stack | real | ccapki |")
    lines.append("|---|---|---|---|")
    for c in report.cases:
        for s in report.stacks:
            real, off = report.real.get((c.name, s)), report.offline.get((c.name, s))
            if real is not None and off is not None and (real.ok is not True or off.ok is not True):
                lines.append(f"| `{c.name}` | {s} | {_md(real.detail)} | {_md(off.detail)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()
