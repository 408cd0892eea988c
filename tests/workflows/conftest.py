"""End-to-end workflows of issues 3 and 4: the CLI run in process on a real store.

Every certificate is minted at test time from the fixed clock ``NOW`` (exported to the CLI as
``CCAPKI_NOW``). Outside CAs (the "third-party CA" that signs our CSRs) are minted here with
cryptography; every store is a real SQLite file under ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.cli import main
from ccapki.pki.issue import Issuer, make_intermediate_ca, make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store import Store
from ccapki.store.keyring import Keyring
from clikit import Result, ha_pair, standalone
from toolcheck import require_tool

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
PASSPHRASE = "correct horse battery staple"
TEST_SCRYPT_N = 2**10


def openssl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the real ``openssl`` command (skip/fail as :func:`require_tool` says)."""
    exe = require_tool("openssl")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# ---------------------------------------------------------------------------- the CLI


CliRunner = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No store or password from the machine leaks in; fixed clock; the store passphrase."""
    for var in (
        "CCAPKI_HOME",
        "CCAPKI_DATABASE_URL",
        "CCAPKI_EXPORT_PASSWORD",
        "XDG_DATA_HOME",
        "CCAPKI_NOW",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CCAPKI_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CCAPKI_NOW", NOW.isoformat())
    # the fixed clock also drives the commands that write (a test-only opt-in: CCAPKI_NOW
    # alone is a what-if clock and writing commands refuse it)
    monkeypatch.setenv("CCAPKI_NOW_ALLOW_WRITES", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    # The passphrase path runs for real (scrypt, unwrap, AES-GCM) at a lower scrypt cost: the
    # store records its ``n``, so every later unlock uses it. Tests stay fast (~100 ms a call).
    wrap = Keyring.wrap_with_passphrase
    monkeypatch.setattr(
        Keyring,
        "wrap_with_passphrase",
        staticmethod(lambda data_key, passphrase: wrap(data_key, passphrase, n=TEST_SCRYPT_N)),
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """``cli("plan")`` runs ``ccapki --home HOME plan`` in process; ``now=`` moves the clock."""
    seen: list[Result] = []

    def run(*args: str | Path, now: dt.datetime | None = None) -> Result:
        capsys.readouterr()
        argv = ["--home", str(home), *(str(a) for a in args)]
        with monkeypatch.context() as m:
            if now is not None:
                m.setenv("CCAPKI_NOW", now.isoformat())
            code = main(argv)
        cap = capsys.readouterr()
        result = Result(code, cap.out, cap.err, tuple(argv))
        seen.append(result)
        return result

    yield run
    for r in seen:
        assert "Traceback" not in r.both, r.both
        assert "PRIVATE KEY" not in r.both, "a private key reached the terminal"


def ok(r: Result) -> Result:
    assert r.code == 0, f"{r.args}: exit {r.code}\n{r.both}"
    return r


def open_store(home: Path) -> Store:
    """The store itself (for the audit log and identity history)."""
    return Store.open(home, passphrase=lambda: PASSPHRASE, clock=lambda: NOW)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- deployments


def deployment(
    *,
    release: str = "4.8.0",
    source: str = "internal",
    cam: str | None = None,
    cas: Sequence[str] = (),
    key: str = "ecdsa-p256",
) -> str:
    """A deployment file: the CAM block (default: a standalone CAM) and ``[[cas]]`` blocks."""
    cam_block = cam or standalone("cam", "10.0.0.1")
    parts = [
        "[deployment]",
        'name = "wf"',
        f'release = "{release}"',
        'organization = "Workflow Org"',
        f'source = "{source}"',
        f'key = "{key}"',
        "",
        "[cam]",
        cam_block,
    ]
    parts += [f"[[cas]]\n{block}" for block in cas]
    return "\n".join(parts) + "\n"


#: The workflow deployment: a CAM HA pair, a CAS HA pair and a standalone CAS whose identity
#: comes from a third-party CA.
THIRD_PARTY_DEP = deployment(
    cam=ha_pair("cam", "10.0.0"),
    cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-tp", "10.6.0.1", source="third-party")],
)


@pytest.fixture
def deployed(cli: CliRunner, tmp_path: Path) -> Callable[[str], Path]:
    """``deployed(TEXT)``: init a store, write TEXT as the deployment file and apply it."""

    def make(text: str) -> Path:
        path = write(tmp_path / "deployment.toml", text)
        ok(cli("init"))
        ok(cli("apply", path))
        return path

    return make


# ---------------------------------------------------------------------------- outside CAs


@dataclass
class OutsideCA:
    """A third-party CA minted at test time: root -> issuing CA -> the certificates it signs."""

    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    inter: x509.Certificate
    inter_key: CertificateIssuerPrivateKeyTypes

    @classmethod
    def make(cls, name: str = "Outside Trust", key_type: KeyType = KeyType.ECDSA_P256) -> OutsideCA:
        root_key = generate_key(key_type)
        root = make_root_ca(
            f"{name} Root",
            root_key,
            now=NOW - dt.timedelta(days=30),
            days=3650,
            organization=name,
        )
        inter_key = generate_key(key_type)
        inter = make_intermediate_ca(
            Issuer(root, root_key),
            f"{name} Issuing CA",
            inter_key.public_key(),
            now=NOW - dt.timedelta(days=30),
            days=1825,
            organization=name,
        )
        return cls(root, root_key, inter, inter_key)

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        return (self.inter, self.root)

    def sign(
        self,
        subject: x509.Name,
        public_key: Any,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        days: int = 365,
        eku: Sequence[x509.ObjectIdentifier] | None = (
            ExtendedKeyUsageOID.SERVER_AUTH,
            ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
    ) -> x509.Certificate:
        import ipaddress

        start = not_before or NOW - dt.timedelta(hours=1)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.inter.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                critical=False,
            )
        )
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return b.sign(self.inter_key, hashes.SHA256())

    def sign_csr(self, csr: x509.CertificateSigningRequest, **kw: Any) -> x509.Certificate:
        """Answer a CSR as a CA does: its subject, its SANs (unless ``dns``/``ips`` given)."""
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        kw.setdefault("dns", san.get_values_for_type(x509.DNSName))
        kw.setdefault("ips", [str(i) for i in san.get_values_for_type(x509.IPAddress)])
        return self.sign(csr.subject, csr.public_key(), **kw)


@pytest.fixture(scope="session")
def outside() -> OutsideCA:
    return OutsideCA.make()


def tp_names(spec: str = "cas-tp", ip: str = "10.6.0.1") -> dict[str, list[str]]:
    """The SANs the plan gives the standalone third-party CAS of ``THIRD_PARTY_DEP``."""
    return {"dns": [f"{spec}.example.org"], "ips": [ip]}
