"""Fixtures every test folder shares; the helpers behind them live in ``tests/kit``.

Every test runs in a clean environment: no store, passphrase, database or clock from the
machine leaks in, ``HOME`` is a fresh folder, and the clock is the fixed ``kit.certs.NOW``
(``CCAPKI_NOW``, which the writing commands accept here: ``CCAPKI_NOW_ALLOW_WRITES``). A
folder that needs another environment (the wall clock, a store passphrase) says so in its
own conftest. Every store is a real SQLite file under ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.store.keyring import Keyring
from kit.certs import NOW, OutsideCA
from kit.cli import Cli

#: ``CCAPKI_TEST_BACKEND=postgresql`` runs the suite's stores on PostgreSQL (see kit.pgmode)
pytest_plugins = ["kit.pgmode"]

#: scrypt cost of the passphrase stores made with the ``fast_scrypt`` fixture
TEST_SCRYPT_N = 2**10

_MACHINE_VARS = (
    "CCAPKI_HOME",
    "CCAPKI_DATABASE_URL",
    "CCAPKI_DEPLOYMENT",
    "CCAPKI_EXPORT_PASSWORD",
    "CCAPKI_PASSPHRASE",
    "CCAPKI_NOW",
    "CCAPKI_NOW_ALLOW_WRITES",
    "XDG_DATA_HOME",
)


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the session (e.g. the JSSE harness compiles once, not per test)."""
    return tmp_path_factory.mktemp("cache-home")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _cache_home: Path) -> None:
    """No store, passphrase or database from the machine leaks into a test; fixed clock."""
    for var in _MACHINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_cache_home))
    monkeypatch.setenv("CCAPKI_NOW", NOW.isoformat())
    # the fixed clock also drives the commands that write (a test-only opt-in: CCAPKI_NOW
    # alone is a what-if clock and writing commands refuse it)
    monkeypatch.setenv("CCAPKI_NOW_ALLOW_WRITES", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's clock instead of the fixed one (``CCAPKI_NOW`` unset)."""
    monkeypatch.delenv("CCAPKI_NOW", raising=False)
    monkeypatch.delenv("CCAPKI_NOW_ALLOW_WRITES", raising=False)


@pytest.fixture
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passphrase stores run the real scrypt path (scrypt, unwrap, AES-GCM) at a low cost.

    The store records its ``n``, so every later unlock (another process too) uses it.
    """
    wrap = Keyring.wrap_with_passphrase
    monkeypatch.setattr(
        Keyring,
        "wrap_with_passphrase",
        staticmethod(lambda data_key, passphrase: wrap(data_key, passphrase, n=TEST_SCRYPT_N)),
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Where the ``cli`` fixture's store lives (not created until ``init``)."""
    return tmp_path / "store"


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: Path
) -> Iterator[Cli]:
    """``cli("plan", FILE)`` runs ``ccapki --home HOME plan FILE`` in process (see
    :class:`kit.cli.Cli`); afterwards no run may have printed a traceback or a private key."""
    runner = Cli(capsys, monkeypatch, home)
    yield runner
    runner.check()


@pytest.fixture
def keyfile_store(cli: Cli, home: Path) -> Path:
    """``home`` initialised as a key-file store."""
    r = cli("init", "--key-file")
    assert r.code == 0, r.both
    return home


@pytest.fixture(scope="session")
def outside() -> OutsideCA:
    """A third-party CA on the fixed clock (root -> issuing CA)."""
    return OutsideCA.make()
