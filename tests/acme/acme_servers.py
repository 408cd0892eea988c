"""Real ACME and DNS servers on 127.0.0.1 for the ACME tests: Debian's ``pebble`` (its
HTTPS certificate minted here, verified by the client through an explicit CA bundle),
``pebble-challtestsrv`` (a DNS server whose TXT records a hook sets over its management
API) and BIND's ``named`` (a zone that accepts TSIG-signed dynamic updates).

Every server is this test's own process, on free ports, stopped afterwards.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kit.tools import free_port, require_tool

__all__ = [
    "Bind",
    "ChallTestSrv",
    "Pebble",
    "campus_file",
    "free_udp_tcp_port",
    "hook_script",
    "mint_tls",
    "store_rows",
    "wait_port",
]


def free_udp_tcp_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (a DNS server listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no free port")


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not listen on {port} within 20 s")
            time.sleep(0.05)


def mint_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost, minted now (the shared
    kit, tests/kit/certs.py). Returns (CA bundle, server certificate, server key) files."""
    from kit.certs import issue, make_ca

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca = make_ca("ccapki test pebble TLS", intermediate=False, now=now)
    leaf = issue(ca, "localhost", ("localhost",), now=now, days=2, ips=("127.0.0.1",))
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / "pebble-tls-ca.pem"
    bundle.write_bytes(ca.root_pem)
    cert = folder / "pebble-tls.pem"
    cert.write_bytes(leaf.cert_pem)
    keyf = folder / "pebble-tls.key"
    keyf.write_bytes(leaf.key_pem)
    keyf.chmod(0o600)
    return bundle, cert, keyf


@dataclass
class ChallTestSrv:
    """``pebble-challtestsrv``: DNS on ``dns_port`` (UDP+TCP), management on ``mgmt_port``."""

    folder: Path
    dns_port: int = 0
    mgmt_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChallTestSrv:
        exe = require_tool("pebble-challtestsrv")
        self.dns_port = free_udp_tcp_port()
        self.mgmt_port = free_port()
        log = self.folder / "challtestsrv.log"
        with log.open("wb") as out:
            self.proc = self._popen(exe, out)
        wait_port(self.mgmt_port, self.proc, "pebble-challtestsrv", log)
        wait_port(self.dns_port, self.proc, "pebble-challtestsrv DNS", log)
        return self

    def _popen(self, exe: str, out: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                exe,
                "-dns01",
                f"127.0.0.1:{self.dns_port}",
                "-management",
                f"127.0.0.1:{self.mgmt_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
        )

    @property
    def management(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Pebble:
    """``pebble`` on free ports with a config written here; ``restart()`` kills it and
    starts it again on the same ports (it forgets every account and order)."""

    folder: Path
    dns: str  # host:port of the DNS server pebble's VA asks
    blocklist: tuple[str, ...] = ()
    validity: int | None = None  # certificateValidityPeriod (seconds)
    eab: dict[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    mgmt_port: int = 0
    bundle: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Pebble:
        exe = require_tool("pebble")
        if self.bundle is None:
            self.bundle, self._cert, self._key = mint_tls(self.folder)
            self.port = free_port()
            self.mgmt_port = free_port()
        cfg: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(self._cert),
            "privateKey": str(self._key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": self.eab is not None,
        }
        if self.eab is not None:
            cfg["externalAccountMACKeys"] = self.eab
        if self.blocklist:
            cfg["domainBlocklist"] = list(self.blocklist)
        if self.validity is not None:
            cfg["certificateValidityPeriod"] = self.validity
        conf = self.folder / "pebble.json"
        conf.write_text(json.dumps({"pebble": cfg}))
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",
            **self.env,
        }
        log = self.folder / "pebble.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [exe, "-config", str(conf), "-dnsserver", self.dns],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port, self.proc, "pebble", log)
        return self

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def root_pem(self) -> bytes:
        """The root pebble signs with now (its management API, over the minted TLS)."""
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.bundle))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{self.mgmt_port}/roots/0", context=ctx, timeout=10
        ) as r:
            data: bytes = r.read()
            return data


@dataclass
class Bind:
    """BIND's ``named`` in the foreground as this test's process: zone ``zone`` (SOA, NS, and
    the A records given) that accepts dynamic updates signed by ``key_name``."""

    folder: Path
    zone: str = "example.org"
    key_name: str = "ccapki-acme"
    secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Bind:
        exe = require_tool("named")
        self.port = free_udp_tcp_port()
        ctl = free_port()
        d = self.folder / "named"
        d.mkdir(parents=True, exist_ok=True)
        zone_file = d / f"{self.zone}.zone"
        zone_file.write_text(
            f"$TTL 60\n@ IN SOA ns1.{self.zone}. hostmaster.{self.zone}. 1 60 60 600 60\n"
            f"@ IN NS ns1.{self.zone}.\nns1 IN A 127.0.0.1\n"
        )
        conf = d / "named.conf"
        conf.write_text(
            f'key "{self.key_name}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n'
            f'options {{\n  directory "{d}";\n  listen-on port {self.port} {{ 127.0.0.1; }};\n'
            "  listen-on-v6 { none; };\n  recursion no;\n  dnssec-validation no;\n"
            f'  pid-file "{d}/named.pid";\n  session-keyfile "{d}/session.key";\n'
            f'  managed-keys-directory "{d}";\n}};\n'
            f"controls {{ inet 127.0.0.1 port {ctl} allow {{ 127.0.0.1; }} keys {{ "
            f'"{self.key_name}"; }}; }};\n'
            f'zone "{self.zone}" {{ type primary; file "{zone_file}"; '
            f'allow-update {{ key "{self.key_name}"; }}; }};\n'
        )
        log = d / "named.log"
        argv = [exe, "-g", "-c", str(conf)]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        wait_port(self.port, self.proc, "named", log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def hook_script(folder: Path) -> Path:
    """The DNS hook the tests configure: sets or clears the TXT record at challtestsrv's
    management API (``CHALLTESTSRV``); ``HOOK_WRONG_VALUE=1`` publishes a wrong value (a
    failing challenge); ``HOOK_PAUSE=FILE`` writes FILE.wait and waits for FILE.go (the
    test restarts pebble meanwhile)."""
    script = folder / "dns-hook.py"
    script.write_text(
        f"""#!{sys.executable}
import json, os, sys, time, urllib.request
action, record, value = sys.argv[1:4]
assert os.environ["CCAPKI_ACME_ACTION"] == action
assert os.environ["CCAPKI_ACME_RECORD"] == record
assert os.environ["CCAPKI_ACME_VALUE"] == value
base = os.environ["CHALLTESTSRV"]
host = record.rstrip(".") + "."
if action == "add":
    if os.environ.get("HOOK_WRONG_VALUE"):
        value = "not-the-key-authorization"
    body = {{"host": host, "value": value}}
    path = "/set-txt"
    pause = os.environ.get("HOOK_PAUSE")
    if pause:
        open(pause + ".wait", "w").close()
        for _ in range(600):
            if os.path.exists(pause + ".go"):
                break
            time.sleep(0.05)
elif action == "remove":
    body = {{"host": host}}
    path = "/clear-txt"
else:
    sys.exit("unknown action " + action)
req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
"""
    )
    script.chmod(0o755)
    return script


def campus_file(
    folder: Path, directory: str, bundle: Path | None, hook: str | Path, extra: str = ""
) -> Path:
    """``acme-campus.toml`` in ``folder``: one CAM ordered over ACME from ``directory``
    (trusting ``bundle``), DNS-01 through ``hook``; ``extra`` lines end the [acme] table."""
    from kit.cli import write

    return write(
        folder / "acme-campus.toml",
        '[deployment]\nname = "acme-campus"\nrelease = "4.8.0"\norganization = "Test Org"\n\n'
        '[cam]\nname = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\nsource = "acme"\n\n'
        f'[acme]\ndirectory = "{directory}"\nemail = "pki@example.org"\n'
        f'ca_bundle = "{bundle}"\ndns = "hook"\nhook = {json.dumps([str(hook)])}\n'
        f"propagation_timeout = 30\n{extra}",
    )


def store_rows(home: Path, sql: str) -> list[dict[str, object]]:
    """The rows ``sql`` reads from ``home``'s store (SQLite file or PostgreSQL schema)."""
    from sqlalchemy import create_engine, text

    from kit.pgmode import store_url

    engine = create_engine(store_url(home))
    try:
        with engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(text(sql))]
    finally:
        engine.dispose()
