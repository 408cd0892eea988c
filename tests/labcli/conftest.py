"""End-to-end tests of issue 5's CLI: ``ccapki lab up|status|reload|down`` and
``ccapki verify --live``, run in process on real stores with a real lab daemon.

The clock: the lab daemon's handshakes are judged by OpenSSL against the machine's clock (it
cannot be set), and ``verify --live`` must compare them with offline verdicts taken at the same
instant. So these tests run the CLI on the machine's clock (``CCAPKI_NOW`` unset) and mint
every certificate at test time from it; a scenario that needs the past (an expired certificate)
sets ``CCAPKI_NOW`` for that one step. No lab process outlives a test: every lab is stopped in
a finalizer (``ccapki lab down``, then ``stop_background`` as a fallback), and every test is
bounded in time.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.cli import main
from ccapki.lab.daemon import read_state, stop_background
from ccapki.pki.issue import make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store.keyring import Keyring
from clikit import Result
from toolcheck import require_tool

PASSPHRASE = "labcli passphrase"
TEST_SCRYPT_N = 2**10
TEST_SECONDS = 60  # a hard bound for every test


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------------------- environment


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No store, clock or password from the machine leaks in."""
    for var in (
        "CCAPKI_HOME",
        "CCAPKI_DATABASE_URL",
        "CCAPKI_EXPORT_PASSWORD",
        "CCAPKI_PASSPHRASE",
        "CCAPKI_NOW",
        "CCAPKI_NOW_ALLOW_WRITES",
        "XDG_DATA_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    # passphrase stores run the real scrypt path at a low cost; the store records ``n``, so
    # the lab daemon (another process) unlocks it with the same cost
    wrap = Keyring.wrap_with_passphrase
    monkeypatch.setattr(
        Keyring,
        "wrap_with_passphrase",
        staticmethod(lambda data_key, passphrase: wrap(data_key, passphrase, n=TEST_SCRYPT_N)),
    )


@pytest.fixture(autouse=True)
def _time_bound() -> Iterator[None]:
    """Fail (never hang) a test that runs longer than TEST_SECONDS."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"test exceeded {TEST_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------- the CLI


def ok(r: Result) -> Result:
    assert r.code == 0, f"{r.args}: exit {r.code}\n{r.both}"
    return r


def error_with_hint(r: Result, code: int = 2) -> Result:
    assert r.code == code, f"{r.args}: exit {r.code}\n{r.both}"
    assert r.err.startswith("error: "), r.both
    assert "\nhint: " in r.err, r.both
    assert "Traceback" not in r.both
    return r


class Cli:
    """``cli(home, "lab", "up")`` runs ``ccapki --home HOME lab up`` in process."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.seen: list[Result] = []

    def __call__(
        self, home: Path, *args: str | Path, env: dict[str, str | None] | None = None
    ) -> Result:
        self.capsys.readouterr()
        argv = ["--home", str(home), *(str(a) for a in args)]
        with self.monkeypatch.context() as m:
            for k, v in (env or {}).items():
                if v is None:
                    m.delenv(k, raising=False)
                else:
                    m.setenv(k, v)
            code = main(argv)
        cap = self.capsys.readouterr()
        result = Result(code, cap.out, cap.err, tuple(argv))
        self.seen.append(result)
        return result


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    runner = Cli(capsys, monkeypatch)
    yield runner
    for r in runner.seen:
        assert "Traceback" not in r.both, r.both
        assert "PRIVATE KEY" not in r.both, "a private key reached the terminal"


# ---------------------------------------------------------------------------- deployments

#: appliance -> {endpoint kind: "host:port"} for `verify --live --target deployment`
Endpoints = dict[str, dict[str, str]]


def _endpoints(name: str, endpoints: Endpoints | None) -> str:
    eps = (endpoints or {}).get(name)
    if not eps:
        return ""
    return ", endpoints = { " + ", ".join(f'{k} = "{v}"' for k, v in eps.items()) + " }"


def _member(name: str, ip: str, endpoints: Endpoints | None) -> str:
    return (
        f'{{ name = "{name}", hostname = "{name}.lab.test", ip = "{ip}"'
        f"{_endpoints(name, endpoints)} }}"
    )


def _pair(section: str, name: str, net: str, endpoints: Endpoints | None) -> str:
    return (
        f"[{section}]\n"
        f'name = "{name}"\n'
        f'virtual_hostname = "{name}.lab.test"\n'
        f'service_ip = "{net}.10"\n'
        f"primary = {_member(name + '-a', net + '.11', endpoints)}\n"
        f"secondary = {_member(name + '-b', net + '.12', endpoints)}\n"
    )


def _standalone(name: str, ip: str, endpoints: Endpoints | None, extra: str = "") -> str:
    eps = (endpoints or {}).get(name)
    line = ""
    if eps:
        line = "endpoints = { " + ", ".join(f'{k} = "{v}"' for k, v in eps.items()) + " }\n"
    return f'[[cas]]\nname = "{name}"\nhostname = "{name}.lab.test"\nip = "{ip}"\n{line}{extra}'


#: the test deployment: a CAM HA pair, a CAS HA pair and a standalone CAS (every channel)
CAM = ("cam-a", "cam-b")
CAS_HA = ("cas-ha-a", "cas-ha-b")
SOLO = "cas-solo"
SHORT = "cas-short"  # only in deployments made with short=True: validity_days = 1


def deployment_toml(*, short: bool = False, endpoints: Endpoints | None = None) -> str:
    text = (
        "[deployment]\n"
        'name = "labcli"\n'
        'release = "4.8.0"\n'
        'organization = "Lab CLI Test"\n'
        'source = "internal"\n\n'
        + _pair("cam", "cam", "10.0.0", endpoints)
        + "\n"
        + _pair("[cas]", "cas-ha", "10.1.0", endpoints)
        + "\n"
        + _standalone(SOLO, "10.2.0.10", endpoints)
    )
    if short:
        text += "\n" + _standalone(SHORT, "10.3.0.10", endpoints, "validity_days = 1\n")
    return text


def appliances(short: bool = False) -> list[str]:
    return [*CAM, *CAS_HA, SOLO, *([SHORT] if short else [])]


# ---------------------------------------------------------------------------- labs


@dataclass
class LabHome:
    home: Path
    deployment: Path
    short: bool = False
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.home / "lab"

    def status(self, cli: Cli) -> dict[str, Any]:
        """``lab status --json``; its exit code says whether every link is up (0) or not (1)."""
        r = cli(self.home, "lab", "status", "--json", env=self.env)
        doc: dict[str, Any] = r.json()
        assert r.code == (0 if all(x["ok"] for x in doc["links"]) else 1), r.both
        return doc

    def verify(self, cli: Cli, *extra: str) -> tuple[int, dict[str, Any]]:
        r = cli(self.home, "verify", "--live", "--json", *extra, env=self.env)
        assert r.code in (0, 1, 3), r.both
        doc: dict[str, Any] = r.json()
        return r.code, doc


def stop_lab(cli: Cli, lab: LabHome) -> None:
    """`ccapki lab down`, then the daemon module's own stop as a fallback."""
    try:
        cli(lab.home, "lab", "down", env=lab.env)
    finally:
        stop_background(lab.state_dir, timeout=5.0)
        state = read_state(lab.state_dir)
        assert state is None or not state.alive, f"a lab daemon outlived the test: {state}"


LabFactory = Callable[..., LabHome]


@pytest.fixture
def make_lab(cli: Cli, tmp_path: Path) -> Iterator[LabFactory]:
    """``make_lab()``: a store with the test deployment applied and its lab running."""
    made: list[LabHome] = []

    def make(
        *,
        name: str = "store",
        short: bool = False,
        passphrase: str | None = None,
        apply_now: dt.datetime | None = None,
        up: bool = True,
    ) -> LabHome:
        home = tmp_path / name
        env: dict[str, str | None] = {"CCAPKI_PASSPHRASE": passphrase} if passphrase else {}
        lab = LabHome(home, tmp_path / f"{name}.toml", short, env)
        lab.deployment.write_text(deployment_toml(short=short), encoding="utf-8")
        ok(cli(home, "init", *([] if passphrase else ["--key-file"]), env=env))
        apply_env = dict(env)
        if apply_now is not None:
            apply_env["CCAPKI_NOW"] = apply_now.isoformat()
            apply_env["CCAPKI_NOW_ALLOW_WRITES"] = "1"  # test-only: write on a moved clock
        ok(cli(home, "apply", lab.deployment, env=apply_env))
        made.append(lab)
        if up:
            ok(cli(home, "lab", "up", "--interval", "1", env=env))
        return lab

    yield make
    for lab in made:
        stop_lab(cli, lab)


# ---------------------------------------------------------------------------- verify JSON


Cell = tuple[str, str]


def failing(doc: dict[str, Any], side: str) -> set[Cell]:
    """The (appliance, channel) cells whose ``side`` ("live" or "offline") is "fail"."""
    return {(c["appliance"], c["channel"]) for c in doc["cells"] if c[side] == "fail"}


def assert_all_pass(code: int, doc: dict[str, Any]) -> None:
    assert code == 0, doc
    assert doc["ok"] is True
    assert doc["agree"] is True
    assert failing(doc, "live") == set()
    assert failing(doc, "offline") == set()
    assert all(c["agree"] is True for c in doc["cells"]), doc
    assert {c["live"] for c in doc["cells"]} <= {"pass", "n/a"}


def assert_breaks(code: int, doc: dict[str, Any], *, live: set[Cell], offline: set[Cell]) -> None:
    """Exactly the predicted cells fail, live and offline agree, exit 1 (findings)."""
    assert failing(doc, "live") == live, doc
    assert failing(doc, "offline") == offline, doc
    assert doc["agree"] is True
    assert all(c["agree"] for c in doc["cells"]), doc
    assert doc["ok"] is False
    assert code == 1


# ---------------------------------------------------------------------------- an outside CA


@dataclass(frozen=True)
class OutsideCA:
    """A third-party CA minted at test time (a root signing leaves directly)."""

    root: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @classmethod
    def make(cls, name: str = "Outside Test CA") -> OutsideCA:
        key = generate_key(KeyType.ECDSA_P256)
        root = make_root_ca(
            name, key, now=utcnow() - dt.timedelta(days=1), days=3650, organization="Outside"
        )
        return cls(root, key)

    def sign_csr(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        """Answer a CSR as a public CA does: its subject and SANs, serverAuth + clientAuth."""
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        now = utcnow()
        return (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.root.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(san.value, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )


def openssl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    exe = require_tool("openssl")
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
