"""Shared helpers for the foundation tests: a fixed clock, the CLI run in process, files.

Every certificate is minted at test time from the fixed clock ``NOW`` (exported to the CLI
as ``CCAPKI_NOW``); every store is a real SQLite file under ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509

from ccapki.cli import main
from clikit import Result
from toolcheck import require_tool

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[2]
FAQ = REPO / "examples" / "faq.toml"


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``openssl`` command; skip/fail as :func:`require_tool` says."""
    exe = require_tool("openssl")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line number of the ``nth`` line containing ``needle``."""
    seen = 0
    for no, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return no
    raise AssertionError(f"{needle!r} not in the text")


def epoch(when: dt.datetime) -> str:
    return str(int(when.timestamp()))


CliRunner = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No store, passphrase or database from the machine leaks into a test; fixed clock."""
    for var in ("CCAPKI_HOME", "CCAPKI_PASSPHRASE", "CCAPKI_DATABASE_URL", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CCAPKI_NOW", NOW.isoformat())
    # the fixed clock also drives the commands that write (a test-only opt-in: CCAPKI_NOW
    # alone is a what-if clock and writing commands refuse it)
    monkeypatch.setenv("CCAPKI_NOW_ALLOW_WRITES", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path) -> Iterator[CliRunner]:
    """``cli("plan", FILE)`` runs ``ccapki --home HOME plan FILE`` in process."""
    seen: list[Result] = []

    def run(*args: str, home_dir: Path | None = home, now: dt.datetime | None = None) -> Result:
        capsys.readouterr()  # drop whatever came before
        argv: list[str] = ["--home", str(home_dir)] if home_dir is not None else []
        old = os.environ.get("CCAPKI_NOW")
        if now is not None:
            os.environ["CCAPKI_NOW"] = now.isoformat()
        try:
            code = main([*argv, *args])
        finally:
            if now is not None:
                assert old is not None
                os.environ["CCAPKI_NOW"] = old
        cap = capsys.readouterr()
        result = Result(code, cap.out, cap.err, tuple(args))
        seen.append(result)
        return result

    yield run
    # whatever a test ran: no traceback and no private key ever reaches the terminal
    for r in seen:
        assert "Traceback" not in r.both or "--debug" in r.args
        assert "PRIVATE KEY" not in r.both


@pytest.fixture
def keyfile_store(cli: CliRunner, home: Path) -> Path:
    r = cli("init", "--key-file")
    assert r.code == 0, r.both
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def deployment(
    *,
    release: str = "4.8.0",
    source: str = "internal",
    key: str = "ecdsa-p256",
    cas: Sequence[str] = (),
    cam: str | None = None,
    organization: str = "Test Org",
) -> str:
    """A small deployment: a standalone CAM plus the ``[[cas]]`` blocks given."""
    cam_block = cam or ('[cam]\nname = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\n')
    parts = [
        "[deployment]",
        'name = "test"',
        f'release = "{release}"',
        f'organization = "{organization}"',
        f'source = "{source}"',
        f'key = "{key}"',
        "",
        cam_block,
    ]
    parts += [f"[[cas]]\n{block}" for block in cas]
    return "\n".join(parts) + "\n"


def san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        list(san.get_values_for_type(x509.DNSName)),
        [str(i) for i in san.get_values_for_type(x509.IPAddress)],
    )


def db_bytes(home: Path) -> bytes:
    """The store's SQLite file plus any WAL, as raw bytes."""
    data = (home / "ccapki.db").read_bytes()
    wal = home / "ccapki.db-wal"
    return data + (wal.read_bytes() if wal.exists() else b"")
