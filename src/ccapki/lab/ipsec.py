"""The HA heartbeat for real: IKEv2 between two strongSwan ``charon`` daemons.

An HA pair's heartbeat runs in an IPsec tunnel authenticated with the pair's certificate
(the FAQ: "if the certificates are bad the IPSEC tunnel won't come up"). :class:`IpsecPair`
runs that negotiation with the reference implementation, strongSwan: two network namespaces
joined by a veth pair (addresses from 198.18.0.0/15, RFC 2544's benchmarking range), one
``charon`` per namespace with its own ``strongswan.conf`` (``STRONGSWAN_CONF``), config
folder, log, pid file and vici socket, loaded with ``swanctl --load-all``::

    with IpsecPair(primary, secondary) as pair:      # IpsecPeer values
        out = pair.negotiate("primary-name")           # IkeOutcome
        out.established, out.reason, out.child_sa

Each peer authenticates with its certificate and key (``auth = pubkey``), uses its
certificate's subject DN as its IKE identity and expects the same DN from the other (both
hold the pair's one certificate; no host name is checked, as in the offline heartbeat
verdict; :class:`IpsecPeer` takes a host name or IP instead, which strongSwan matches against
the subjectAltNames), and accepts only a chain reaching a certificate of its own trust store
(``remote.cacerts``, or the very certificate for a trusted self-signed one: charon trusts
every certificate swanctl loads, its own included, so trust is a constraint on the peer's
chain). Only the IKE_AUTH outcome counts: the CHILD_SA after it
needs the kernel's XFRM, which a sandbox may refuse; :attr:`IkeOutcome.child_sa` reports
that and the outcome stands. Everything started is stopped, and the namespaces and the
work folder (which holds the key, mode 0600) deleted, even on failure.

Needs root (network namespaces), ``ip`` (iproute2), ``charon`` (Debian:
strongswan-charon), ``swanctl`` (strongswan-swanctl) and strongSwan's openssl plugin
(libstrongswan-standard-plugins: ECDSA keys); :func:`ipsec_unavailable` says what is
missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from ccapki.errors import CcapkiError, InputError
from ccapki.lab._spec import ApplianceSpec, LabSpec
from ccapki.pki.certs import fingerprint

__all__ = [
    "CHARON",
    "IPSEC_STACK",
    "IkeOutcome",
    "IpsecPair",
    "IpsecPeer",
    "KeptPairs",
    "PairHeartbeat",
    "heartbeat_both_ways",
    "ipsec_unavailable",
    "judge",
    "pair_addresses",
    "pair_peers",
]

#: How reports name this stack.
IPSEC_STACK = "strongSwan IKEv2"
#: Debian's charon (strongswan-charon); ``CCAPKI_CHARON`` overrides it.
CHARON = "/usr/lib/ipsec/charon"
_PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")
_HINT = (
    "run as root with iproute2, strongswan-charon, strongswan-swanctl and "
    "libstrongswan-standard-plugins installed (Debian: apt-get install iproute2 "
    "strongswan-charon strongswan-swanctl libstrongswan-standard-plugins)"
)
#: charon's plugins: the openssl plugin does RSA, ECDSA, the DH groups and ciphers
_PLUGINS = (
    "random nonce kdf openssl x509 constraints pubkey pkcs1 pkcs8 pem "
    "kernel-netlink socket-default vici"
)
_CONN = "heartbeat"
_NET = ipaddress.ip_network("198.18.0.0/30")  # RFC 2544 benchmarking range
_SEQ = itertools.count()
_IN_NETNS = ("ip", "netns", "exec")
#: the charon folder: its /run, and the credential folders swanctl reads (all, so it
#: does not complain of a missing one)
_SUBDIRS = [
    "run",
    "x509",
    "x509ca",
    "x509aa",
    "x509ocsp",
    "x509crl",
    "x509ac",
    "private",
    "rsa",
    "ecdsa",
    "bliss",
    "pkcs8",
    "pkcs12",
    "pubkey",
]
#: what may stand in an IKE identity written into swanctl.conf (a host name or an IP)
_ID_OK = re.compile(r"[A-Za-z0-9.:*_-]+")
#: one line of charon's file log: "<thread>[<group>] <text>"
_LOG_LINE = re.compile(r"^\s*\d+\[(\w+)\] (.*)$")


def pair_addresses() -> str:
    """Where a pair negotiates, as reports show it: both namespaces' addresses."""
    a, b = (str(h) for h in _NET.hosts())
    return f"{a}<->{b}"


def charon_path() -> str:
    return os.environ.get("CCAPKI_CHARON") or CHARON


def ipsec_unavailable() -> str | None:
    """Why the strongSwan heartbeat cannot run here (None: it can)."""
    if os.name != "posix" or os.geteuid() != 0:
        return "network namespaces need root"
    charon = charon_path()
    if not os.access(charon, os.X_OK):
        return f"{charon} is missing (strongswan-charon)"
    for tool, package in (
        ("swanctl", "strongswan-swanctl"),
        ("ip", "iproute2"),
        ("mount", "mount"),
        ("sh", "dash"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is missing ({package})"
    if not (_PLUGIN_DIR / "libstrongswan-openssl.so").exists():
        return "strongSwan's openssl plugin is missing (libstrongswan-standard-plugins)"
    return None


@dataclass(frozen=True)
class IpsecPeer:
    """One peer: its name, what it presents (leaf first, then intermediates; its key, PEM)
    and its trust store (PEM certificates).

    ``identity``: the IKE identity it uses and expects from its peer (both hold the pair's
    certificate). None, the default: the certificate's subject DN, as the heartbeat
    identifies the peers; a host name or IP address instead makes strongSwan check it
    against the certificate's subjectAltNames.
    """

    name: str
    cert_chain_pem: bytes
    key_pem: bytes = field(repr=False)
    trust_pem: bytes
    identity: str | None = None

    def __post_init__(self) -> None:
        if self.identity is not None and not _ID_OK.fullmatch(self.identity):
            raise InputError(
                f"{self.identity!r} cannot be an IKE identity",
                "give the HA pair a host name or an IP address",
            )
        if not self.cert_chain_pem.strip() or not self.key_pem.strip():
            raise InputError(
                f"peer {self.name}: no certificate or no key",
                "give each peer the pair's certificate and key",
            )


@dataclass(frozen=True)
class IkeOutcome:
    """One IKEv2 negotiation, ``initiator`` -> ``responder``.

    ``established``: IKE_AUTH succeeded, each side authenticated the other. ``reason``: the
    line that decided it (the refusing side's own words on a failure), ``refused_by``: the
    peer that refused (None when established or when no side said why). ``child_sa``:
    ``installed``, ``refused by the kernel (...)`` or ``not negotiated``. ``log``: the
    lines of both daemons that explain the outcome.
    """

    initiator: str
    responder: str
    established: bool
    reason: str
    refused_by: str | None
    child_sa: str
    seconds: float
    log: tuple[str, ...] = ()

    @property
    def kernel_refused_child(self) -> bool:
        return self.child_sa.startswith("refused by the kernel")

    def to_dict(self) -> dict[str, object]:
        """The outcome as JSON values (``seconds`` aside)."""
        return {
            "initiator": self.initiator,
            "responder": self.responder,
            "established": self.established,
            "reason": self.reason,
            "refused_by": self.refused_by,
            "child_sa": self.child_sa,
        }


# lines that say why IKE_AUTH failed, most telling first
_REFUSALS = tuple(
    re.compile(p)
    for p in (
        r"rejecting certificate without .*",
        r"constraint check failed: .*",
        r"subject certificate invalid .*",
        r"certificate invalid .*",
        r"issuer certificate .* invalid.*",
        r"self-signed certificate .* is not trusted",
        r"no issuer certificate found for .*",
        r"no trusted \w+ public key found for .*",
        r"signature validation failed.*",
        r"no private key found for .*",
        r"no matching peer config found",
        r"peer config .* unacceptable.*",
        r"tried \d+ \w+ public keys?.*",
        r"authentication of .* failed",
    )
)
_AUTH_FAILED = re.compile(r"received AUTHENTICATION_FAILED notify error")
_ESTABLISHED = re.compile(rf"IKE_SA {_CONN}\[\d+\] established between .*")
_PEER_AUTH_OK = re.compile(r"authentication of '(.*)' with (\S+) successful")
_CHILD_UP = re.compile(r"CHILD_SA \w+\{\d+\} established")
_KERNEL = re.compile(r"received netlink error: (.*)")
_SAD = re.compile(r"unable to install .*IPsec SA.*in kernel")
_DETAIL = re.compile(
    r"(using (trusted|untrusted) .*certificate.*|reached .*|received end entity cert.*"
    r"|looking for peer configs.*|received cert request.*)"
)
_TIMEOUT = re.compile(r"giving up after \d+ retransmits|establishing IKE_SA failed.*")


def _lines(text: str) -> list[tuple[str, str]]:
    out = []
    for raw in text.splitlines():
        m = _LOG_LINE.match(raw)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def _first(lines: Sequence[tuple[str, str]], patterns: Sequence[re.Pattern[str]]) -> str | None:
    for pattern in patterns:
        for _group, text in lines:
            m = pattern.search(text)
            if m:
                return m.group(0)
    return None


def judge(
    initiator: str,
    responder: str,
    initiator_log: str,
    responder_log: str,
    seconds: float,
) -> IkeOutcome:
    """The outcome of one negotiation from the two daemons' file logs (the lines written
    while it ran). Pure: exposed for tests of the log reading."""
    ini, res = _lines(initiator_log), _lines(responder_log)
    ini_up = any(_ESTABLISHED.search(t) for _, t in ini)
    res_up = any(_ESTABLISHED.search(t) for _, t in res)
    ini_why, res_why = _first(ini, _REFUSALS), _first(res, _REFUSALS)
    notified = any(_AUTH_FAILED.search(t) for _, t in ini + res)
    # charon may log a refusal and then succeed with another key: the end state decides
    established = ini_up and res_up and not notified
    refused_by: str | None = None
    if established:
        reason = f"IKE_SA established, each peer authenticated the other ({_auth_schemes(ini)})"
    elif res_why:
        # the responder checks the initiator first: its refusal ended the exchange
        refused_by, reason = responder, f"{responder}: {res_why}"
    elif ini_why:
        refused_by, reason = initiator, f"{initiator}: {ini_why}"
    elif notified:
        refused_by, reason = responder, f"{responder}: AUTHENTICATION_FAILED"
    else:
        why = _first(ini, (_TIMEOUT,))
        reason = f"no IKE_SA: {why or 'no answer from ' + responder}"
    if any(_CHILD_UP.search(t) for _, t in ini):
        child = "installed"
    elif any(_SAD.search(t) for _, t in ini + res):
        err = _first(ini + res, (_KERNEL,))
        child = f"refused by the kernel ({err or 'XFRM unavailable'})"
    else:
        child = "not negotiated"
    log = tuple(
        f"{who}: {t}"
        for who, lines in ((initiator, ini), (responder, res))
        for _, t in lines
        if any(p.search(t) for p in (*_REFUSALS, _AUTH_FAILED, _ESTABLISHED, _PEER_AUTH_OK))
        or _DETAIL.search(t)
        or _SAD.search(t)
        or _KERNEL.search(t)
    )
    return IkeOutcome(initiator, responder, established, reason, refused_by, child, seconds, log)


def _auth_schemes(lines: Sequence[tuple[str, str]]) -> str:
    found = [m.group(2) for _, t in lines if (m := _PEER_AUTH_OK.search(t))]
    return ", ".join(dict.fromkeys(found)) or "pubkey"


def _ike_id(identity: str | None, leaf: x509.Certificate) -> str:
    """A typed strongSwan identity: the leaf's subject DN as DER (``asn1dn:#hex``: exact,
    whatever the DN holds) for None; ``ipv4:``/``ipv6:`` for an IP address; else ``fqdn:``."""
    if identity is None:
        return "asn1dn:#" + leaf.subject.public_bytes().hex()
    try:
        ip = ipaddress.ip_address(identity)
    except ValueError:
        return f"fqdn:{identity}"
    return f"ipv{ip.version}:{ip}"


def _certs(pem: bytes) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():  # a zero or negative serial: negotiated as it is
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificates(pem) if pem.strip() else []
    except ValueError as exc:
        raise InputError(
            f"a certificate for the heartbeat cannot be read ({exc})",
            "give PEM certificates",
        ) from None


_PEM = serialization.Encoding.PEM


@functools.cache
def _nothing_ca() -> x509.Certificate:
    """A self-signed CA that signs nothing: the trust anchor of an empty trust store."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ccapki empty trust store")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


class _Daemon:
    """One charon in its namespace: its folder, config and process."""

    def __init__(self, peer: IpsecPeer, netns: str, me: str, other: str, root: Path) -> None:
        self.peer = peer
        self.netns = netns
        self.dir = root / netns
        self.me, self.other = me, other
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "charon.log"

    @property
    def uri(self) -> str:
        return f"unix://{self.dir / 'charon.vici'}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "STRONGSWAN_CONF": str(self.dir / "strongswan.conf")}

    def write_config(self) -> None:
        d = self.dir
        for sub in _SUBDIRS:
            (d / sub).mkdir(parents=True, exist_ok=True)
        chain = _certs(self.peer.cert_chain_pem)
        if not chain:
            raise InputError(f"peer {self.peer.name}: no certificate", "give the pair's chain")
        (d / "x509" / "identity.pem").write_bytes(chain[0].public_bytes(_PEM))
        # intermediates: charon sends them after the leaf (IKEv2 CERT payloads) only when it
        # holds them; what this peer trusts is the remote constraint below
        for i, c in enumerate(chain[1:]):
            (d / "x509ca" / f"chain-{i}.pem").write_bytes(c.public_bytes(_PEM))
        key = d / "private" / "identity.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.peer.key_pem)
        ike_id = _ike_id(self.peer.identity, chain[0])
        accept = self._trust_constraint(chain[0], _certs(self.peer.trust_pem))
        (d / "swanctl.conf").write_text(
            f"""connections {{
  {_CONN} {{
    version = 2
    local_addrs = {self.me}
    remote_addrs = {self.other}
    dpd_delay = 0
    fragmentation = yes
    local {{
      auth = pubkey
      certs = identity.pem
      id = "{ike_id}"
    }}
    remote {{
      auth = pubkey
      id = "{ike_id}"
      {accept}
    }}
    children {{
      {_CONN} {{
        mode = transport
        start_action = none
      }}
    }}
  }}
}}
"""
        )
        (d / "strongswan.conf").write_text(
            f"""charon {{
  port = 500
  port_nat_t = 4500
  install_routes = no
  install_virtual_ip = no
  retransmit_timeout = 1.0
  retransmit_tries = 2
  load_modular = no
  load = {_PLUGINS}
  plugins {{
    vici {{
      socket = {self.uri}
    }}
  }}
  filelog {{
    heartbeat {{
      path = {self.log}
      default = 1
      cfg = 2
      flush_line = yes
      append = yes
    }}
  }}
  syslog {{
    daemon {{
      default = -1
    }}
  }}
}}
swanctl {{
  load = pem pkcs1 pkcs8 x509 openssl
}}
"""
        )

    def _trust_constraint(self, leaf: x509.Certificate, trust: Sequence[x509.Certificate]) -> str:
        """The ``remote`` rule that makes this peer accept exactly what its trust store
        trusts. Every certificate swanctl loads is trusted by charon, the peer's own one
        included (both HA peers hold the same), so trust is a constraint on the peer's chain:
        it must reach one of the store's certificates (``cacerts``), or be the store's
        certificate itself (a self-signed identity trusted as such: ``certs``). An empty
        store gets a CA of its own that signs nothing: no chain meets it."""
        d = self.dir
        own = fingerprint(leaf)
        if any(fingerprint(c) == own for c in trust):
            return "certs = identity.pem"
        names = []
        for i, c in enumerate(trust or [_nothing_ca()]):
            name = f"trust-{i}.pem"
            (d / "x509ca" / name).write_bytes(c.public_bytes(_PEM))
            names.append(name)
        return f"cacerts = {', '.join(names)}"

    def clear_material(self) -> None:
        """Delete the credentials and swanctl.conf written for the previous peer (the
        daemon's /run stays)."""
        for sub in _SUBDIRS:
            if sub == "run":
                continue
            folder = self.dir / sub
            for f in folder.iterdir() if folder.is_dir() else ():
                f.unlink()
        (self.dir / "swanctl.conf").unlink(missing_ok=True)

    def start(self) -> None:
        out = open(self.dir / "charon.out", "wb")  # noqa: SIM115 - closed in stop()
        # `ip netns exec` gives the command its own mount namespace: /run is bound to the
        # daemon's folder there, so its fixed /var/run/charon.pid is its own
        script = 'mount --bind "$1/run" /run && exec "$2"'
        self.proc = subprocess.Popen(
            [*_IN_NETNS, self.netns, "sh", "-c", script, "sh", str(self.dir), charon_path()],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def wait_ready(self, deadline: float) -> None:
        sock = self.dir / "charon.vici"
        while not sock.exists():
            if self.proc is not None and self.proc.poll() is not None:
                raise CcapkiError(
                    f"charon for {self.peer.name} exited at start: {self.tail()}", _HINT
                )
            if time.monotonic() > deadline:
                raise CcapkiError(f"charon for {self.peer.name} did not start", _HINT)
            time.sleep(0.02)

    def swanctl(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """``swanctl ARGS`` against this daemon (a timeout: exit 124, the logs tell)."""
        argv = ["swanctl", *args, "--uri", self.uri]
        try:
            return subprocess.run(
                argv,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"no answer in {timeout:g} s")

    def load(self, deadline: float, *, clear: bool = False) -> None:
        extra = ("--clear",) if clear else ()
        while True:
            r = self.swanctl("--load-all", *extra, "--file", str(self.dir / "swanctl.conf"))
            # the socket may exist a moment before charon accepts on it
            if "connecting to" not in r.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if r.returncode != 0:
            lines = [x for x in (r.stdout + r.stderr).splitlines() if "failed" in x.lower()]
            raise InputError(
                f"strongSwan refused the heartbeat material of {self.peer.name}: "
                + ("; ".join(lines[:3]) or f"swanctl exit {r.returncode}"),
                "check that the key belongs to the certificate and the PEM files are whole",
            )

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self) -> str:
        text = ""
        with contextlib.suppress(OSError):
            text = (self.dir / "charon.out").read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-3:]) or "no output"

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)


class IpsecPair:
    """Two charon daemons, one per peer, each in its own network namespace (a context
    manager: everything is torn down on exit, even after a failure).

    ``timings`` holds seconds per phase (``setup``, ``teardown``, and one entry per
    negotiation). Raises :class:`~ccapki.errors.CcapkiError` on entry when the harness
    cannot run here (:func:`ipsec_unavailable`) or a daemon does not start, and
    :class:`~ccapki.errors.InputError` when strongSwan refuses a peer's material.
    """

    def __init__(self, a: IpsecPeer, b: IpsecPeer, *, timeout: float = 10.0) -> None:
        if a.name == b.name:
            raise InputError("the two peers need distinct names", "name each HA peer")
        self.peers = (a, b)
        self.timeout = timeout
        self.timings: dict[str, float] = {}
        self._root: Path | None = None
        self._netns: list[str] = []
        self._daemons: dict[str, _Daemon] = {}

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The network namespaces this pair made (empty once torn down)."""
        return tuple(self._netns)

    @property
    def workdir(self) -> Path | None:
        """The folder of both daemons (None once torn down: it is deleted)."""
        return self._root

    @property
    def alive(self) -> bool:
        """Both daemons are running (False before entry, after exit, or once one died)."""
        return len(self._daemons) == 2 and all(
            d.proc is not None and d.proc.poll() is None for d in self._daemons.values()
        )

    def __enter__(self) -> IpsecPair:
        why = ipsec_unavailable()
        if why:
            raise CcapkiError(f"the strongSwan heartbeat cannot run here: {why}", _HINT)
        t0 = time.monotonic()
        try:
            self._setup()
        except BaseException:
            self._teardown()
            raise
        self.timings["setup"] = time.monotonic() - t0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        t0 = time.monotonic()
        self._teardown()
        self.timings["teardown"] = time.monotonic() - t0

    def _ip(self, *args: str, batch: Sequence[str]) -> None:
        """``ip ARGS -batch -`` with ``batch``'s commands, one process for many."""
        r = subprocess.run(
            ["ip", *args, "-batch", "-"],
            input="\n".join(batch) + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            raise CcapkiError(f"`ip` failed: {r.stderr.strip()}", _HINT)

    def _setup(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="ccapki-ipsec-"))
        os.chmod(self._root, 0o700)
        tag = f"ccapki-hb{os.getpid()}-{next(_SEQ)}"
        hosts = [str(h) for h in _NET.hosts()]
        ns = [f"{tag}-a", f"{tag}-b"]
        self._netns += ns  # deleted on teardown, made or not
        # a veth pair, both ends named hb0, each created straight inside its namespace
        self._ip(
            batch=[
                *(f"netns add {n}" for n in ns),
                f"link add hb0 netns {ns[0]} type veth peer name hb0 netns {ns[1]}",
            ]
        )
        for n, addr in zip(ns, hosts, strict=True):
            self._ip(
                "-n",
                n,
                batch=[
                    f"addr add {addr}/{_NET.prefixlen} dev hb0",
                    "link set lo up",
                    "link set hb0 up",
                ],
            )
        root = self._root
        for peer, n, me, other in (
            (self.peers[0], ns[0], hosts[0], hosts[1]),
            (self.peers[1], ns[1], hosts[1], hosts[0]),
        ):
            d = _Daemon(peer, n, me, other, root)
            d.write_config()
            self._daemons[peer.name] = d
        for d in self._daemons.values():
            d.start()
        deadline = time.monotonic() + self.timeout
        for d in self._daemons.values():
            d.wait_ready(deadline)
        for d in self._daemons.values():
            d.load(deadline)

    def _teardown(self) -> None:
        for d in self._daemons.values():
            with contextlib.suppress(Exception):
                d.stop()
        for n in self._netns:
            subprocess.run(
                ["ip", "netns", "del", n],
                capture_output=True,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        self._netns.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def reload(self, a: IpsecPeer, b: IpsecPeer) -> None:
        """Give the two running daemons new peers' material (``a`` to the first namespace,
        ``b`` to the second): the old credentials and connection are unloaded, the new ones
        loaded, and charon's certificate cache flushed, so no certificate of the previous
        peers can complete a chain. Much cheaper than a new pair (no namespaces, no daemon
        start). Raises :class:`~ccapki.errors.InputError` when strongSwan refuses the new
        material (the daemons then hold none: reload again before negotiating)."""
        if a.name == b.name:
            raise InputError("the two peers need distinct names", "name each HA peer")
        if len(self._daemons) != 2:
            raise CcapkiError("the pair is not running", "reload inside `with IpsecPair(...)`")
        daemons = list(self._daemons.values())
        self._daemons = {}
        for d, peer in zip(daemons, (a, b), strict=True):
            d.peer = peer
            d.clear_material()
            self._daemons[peer.name] = d
        self.peers = (a, b)
        for d in daemons:
            d.write_config()
        deadline = time.monotonic() + self.timeout
        for d in daemons:
            d.load(deadline, clear=True)
            d.swanctl("--flush-certs")

    def negotiate(self, initiator: str) -> IkeOutcome:
        """``initiator`` starts an IKEv2 negotiation with the other peer; the outcome read
        from both daemons' logs. Closes the IKE_SA afterwards, so the next one is fresh."""
        if initiator not in self._daemons:
            raise InputError(f"no peer {initiator!r}", f"one of {', '.join(self._daemons)}")
        ini = self._daemons[initiator]
        (res,) = (d for name, d in self._daemons.items() if name != initiator)
        start = {d: d.log_size() for d in (ini, res)}
        t0 = time.monotonic()
        ini.swanctl(
            "--initiate",
            "--child",
            _CONN,
            "--timeout",
            str(int(self.timeout)),
            timeout=self.timeout + 5,
        )
        # the responder writes its last lines as the initiator reads its answer: wait for them
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            text = res.log_since(start[res])
            if _ESTABLISHED.search(text) or any(p.search(text) for p in _REFUSALS):
                break
            time.sleep(0.02)
        seconds = time.monotonic() - t0
        outcome = judge(
            ini.peer.name,
            res.peer.name,
            ini.log_since(start[ini]),
            res.log_since(start[res]),
            seconds,
        )
        ini.swanctl("--terminate", "--ike", _CONN, "--force", "--timeout", "2", timeout=10)
        self.timings[f"{ini.peer.name}->{res.peer.name}"] = seconds
        return outcome


@dataclass(frozen=True)
class PairHeartbeat:
    """One HA pair's heartbeat negotiated both ways (the first peer initiates first).

    ``refused``: strongSwan would not load a peer's material (the key does not fit the
    certificate, a key type it lacks): the heartbeat cannot come up, no negotiation ran.
    ``timings``: seconds per phase (``setup``, each ``A->B`` negotiation, ``teardown``).
    """

    pair: str
    peers: tuple[str, str]
    outcomes: tuple[IkeOutcome, ...]
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    refused: str | None = None

    @property
    def ok(self) -> bool:
        """Every negotiation brought the IKE_SA up."""
        return self.refused is None and all(o.established for o in self.outcomes)

    @property
    def errors(self) -> tuple[str, ...]:
        """One line per failed negotiation, as ``verify --live`` lists them."""
        if self.refused is not None:
            return (f"heartbeat {self.pair} ({IPSEC_STACK}): {self.refused}",)
        return tuple(
            f"heartbeat {o.initiator}->{o.responder} ({IPSEC_STACK}): IKE_AUTH failed, {o.reason}"
            for o in self.outcomes
            if not o.established
        )

    @property
    def child_sa(self) -> str:
        """What became of the CHILD_SA (the tunnel itself) after IKE_AUTH."""
        states = {o.child_sa for o in self.outcomes if o.established}
        return "; ".join(sorted(states)) or "not negotiated"

    def to_dict(self) -> dict[str, object]:
        """As ``verify --live --json`` prints it (timings aside: they differ run to run)."""
        return {
            "pair": self.pair,
            "stack": IPSEC_STACK,
            "ok": self.ok,
            "refused": self.refused,
            "negotiations": [o.to_dict() for o in self.outcomes],
            "child_sa": self.child_sa,
        }


class KeptPairs:
    """Each HA pair's two charon daemons kept running from one negotiation to the next (the
    lab's periodic heartbeat): a pair's :class:`IpsecPair` is made at its first run, given
    new material in place (:meth:`IpsecPair.reload`) when the pair's certificate, key or
    trust stores change, and made again only when a daemon died. :meth:`close` tears every
    pair down. Blocking; different pairs may run in parallel threads, one pair in one thread
    at a time (as the lab's link rounds do)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._pairs: dict[str, IpsecPair] = {}
        self._loaded: dict[str, tuple[IpsecPeer, IpsecPeer]] = {}
        #: how many times a pair's daemons were started (a reused pair does not count)
        self.starts = 0

    @property
    def pairs(self) -> tuple[str, ...]:
        """The pairs whose daemons run now."""
        return tuple(self._pairs)

    def run(self, pair: str, a: IpsecPeer, b: IpsecPeer) -> PairHeartbeat:
        """Pair ``pair`` negotiated both ways (``a`` initiates first) with ``a`` and ``b``'s
        material, on its kept daemons. A peer's material strongSwan refuses is in
        :attr:`PairHeartbeat.refused`; raises :class:`~ccapki.errors.CcapkiError` when the
        harness cannot run here (the pair is then torn down)."""
        runner = self._pairs.get(pair)
        if runner is not None and not runner.alive:
            self.drop(pair)
            runner = None
        try:
            if runner is None:
                runner = IpsecPair(a, b, timeout=self.timeout)
                self.starts += 1
                runner.__enter__()  # tears itself down when it raises
                self._pairs[pair] = runner
                self._loaded[pair] = (a, b)
            elif self._loaded.get(pair) != (a, b):
                self._loaded.pop(pair, None)  # a refused reload leaves the daemons empty
                runner.reload(a, b)
                self._loaded[pair] = (a, b)
            outcomes = (runner.negotiate(a.name), runner.negotiate(b.name))
        except InputError as exc:
            return PairHeartbeat(pair, (a.name, b.name), (), {}, exc.message)
        except BaseException:
            self.drop(pair)
            raise
        return PairHeartbeat(pair, (a.name, b.name), outcomes, {})

    def drop(self, pair: str) -> None:
        """Tear pair ``pair``'s daemons and namespaces down (nothing when none run)."""
        runner = self._pairs.pop(pair, None)
        self._loaded.pop(pair, None)
        if runner is not None:
            runner.__exit__(None, None, None)

    def keep_only(self, pairs: Sequence[str]) -> None:
        """Tear down every pair not in ``pairs`` (gone from the lab after a reload)."""
        for pair in [p for p in self._pairs if p not in pairs]:
            self.drop(pair)

    def close(self) -> None:
        """Tear every pair down (the pairs in parallel: each waits for its daemons)."""
        from concurrent.futures import ThreadPoolExecutor

        pairs = list(self._pairs)
        if len(pairs) <= 1:
            for pair in pairs:
                self.drop(pair)
            return
        with ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
            list(pool.map(self.drop, pairs))


def heartbeat_both_ways(
    a: IpsecPeer, b: IpsecPeer, *, pair: str = "", timeout: float = 10.0
) -> PairHeartbeat:
    """Negotiate ``a`` -> ``b`` and then ``b`` -> ``a`` in one :class:`IpsecPair`.

    Raises :class:`~ccapki.errors.CcapkiError` when the harness cannot run here; a peer's
    material strongSwan refuses is in :attr:`PairHeartbeat.refused`, not raised."""
    name = pair or f"{a.name}+{b.name}"
    runner = IpsecPair(a, b, timeout=timeout)
    try:
        with runner:
            outcomes = (runner.negotiate(a.name), runner.negotiate(b.name))
    except InputError as exc:
        return PairHeartbeat(name, (a.name, b.name), (), dict(runner.timings), exc.message)
    return PairHeartbeat(name, (a.name, b.name), outcomes, dict(runner.timings))


def pair_peers(spec: LabSpec, pair: str) -> tuple[IpsecPeer, IpsecPeer]:
    """The two peers of HA pair ``pair`` of ``spec`` (primary, secondary): the heartbeat
    material each holds (certificate, key, trust store); identified by the certificate's DN.
    Raises ``KeyError`` when ``spec`` has no such pair."""
    primary, secondary = spec.pairs()[pair]

    def peer(a: ApplianceSpec) -> IpsecPeer:
        m = a.heartbeat_material
        return IpsecPeer(a.name, m.cert_chain_pem, m.key_pem, m.trust_pem)

    return peer(primary), peer(secondary)
