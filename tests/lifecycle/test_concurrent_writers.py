"""Issue 11 item 3: writers at once on one store, on SQLite and on PostgreSQL.

Real ``ccapki`` processes are started together on one store: several ``apply`` of a
30-identity deployment, and mixes of ``apply`` with ``csr``, ``import`` and ``trust
apply``. Afterwards every identity holds exactly one version and one active key, no serial
number is used twice, every key decrypts and matches its certificate and the audit log
holds one row per certificate (:func:`kit.storecheck.check_store`). A writer that finds the
store's write lock taken says so on one line and waits; past ``--wait`` it gives up with an
error and a hint, writing nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import create_engine, text

from ccapki.store.session import _PG_LOCK_CLASS
from kit.certs import NOW
from kit.cli import deployment, ha_pair, standalone, write
from kit.storecheck import check_store
from kit.tools import require_pg_url

EXE = shutil.which("ccapki", path=str(Path(sys.executable).parent))
WAITING = "another ccapki is writing to this store; waiting (up to {} s)"
#: third-party identities: two get a CSR, one a certificate and key imported
THIRD = ("tp1", "tp2", "tp3")


def _big() -> str:
    """30 identities: the CAM, 24 standalone CAS, 2 HA pairs, 3 third-party CAS."""
    cas = [standalone(f"cas{i:02d}", f"10.1.0.{i + 1}") for i in range(24)]
    cas += [ha_pair("ha1", "10.5.1"), ha_pair("ha2", "10.5.2")]
    cas += [standalone(n, f"10.9.0.{i + 1}", source="third-party") for i, n in enumerate(THIRD)]
    return deployment(cas=cas)


def _small() -> str:
    """The same deployment's CAM and third-party identities only (what a store starts with)."""
    cas = [standalone(n, f"10.9.0.{i + 1}", source="third-party") for i, n in enumerate(THIRD)]
    return deployment(cas=cas)


def _fresh_schema(base: str, name: str) -> str:
    """A new, empty schema ``name`` in the database at ``base``; the URL that uses it."""
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store database of its own on PostgreSQL (``CCAPKI_TEST_PG_URL``; CI must provide
    one): a fresh schema, so tests running at once elsewhere in the database never meet."""
    base = require_pg_url()
    name = f"writers_{os.getpid()}_{time.monotonic_ns()}"
    url = _fresh_schema(base, name)
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    yield url
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture(
    params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"]
)  # the sqlite case is the SQLite file in home: PostgreSQL runs its own case
def backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL (None: the SQLite file in the store folder)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    assert EXE is not None
    return subprocess.Popen(
        [EXE, "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    try:
        for p in procs:
            o, e = p.communicate(timeout=120)
            out.append((p.returncode, o, e))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return out


def _init(home: Path, url: str | None) -> None:
    r = subprocess.run(
        [str(EXE), "--home", str(home), "init", "--key-file"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr


def _internal_names() -> set[str]:
    return {"cam", *(f"cas{i:02d}" for i in range(24)), "ha1", "ha2"}


TRIES = 3
APPLIES = 6


def test_applies_at_once_issue_each_identity_once(
    tmp_path: Path, backend: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    big = write(tmp_path / "big.toml", _big())
    duplicates = 0
    for n in range(TRIES):
        home = tmp_path / f"store{n}"
        _init(home, backend)
        results = _finish([_start(home, "apply", str(big)) for _ in range(APPLIES)])
        for code, _out, err in results:
            assert code == 0, err
            assert "Traceback" not in err
        facts = check_store(home, backend)
        duplicates += sum(v - 1 for v in facts.versions.values())
        assert facts.names() == _internal_names()
        assert set(facts.versions.values()) == {1}, facts.versions
        # each identity was issued by exactly one of the runs; the others said so
        issued = [
            line.split()[1]
            for _, out, _ in results
            for line in out.splitlines()
            if line.startswith("issued ")
        ]
        assert sorted(issued) == sorted(_internal_names())
        if backend is not None:  # the next try starts from an empty database
            engine = create_engine(backend)
            with engine.begin() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar()
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine.dispose()
    with capsys.disabled():
        print(f"\n{TRIES} tries of {APPLIES} applies at once: {duplicates} duplicates")
    assert duplicates == 0


def _import_files(tmp_path: Path) -> tuple[Path, Path]:
    """tp3's certificate and its CA (an outside CA's, minted now), and its key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Outside Test Root")])
    start = NOW - dt.timedelta(days=1)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tp3.example.org")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("tp3.example.org"), x509.IPAddress(ip_address("10.9.0.3"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pems = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, ca))
    key_der = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return write(tmp_path / "tp3.pem", pems), write(tmp_path / "tp3.key", key_der)


def test_apply_csr_import_trust_apply_at_once(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "store"
    _init(home, backend)
    small, big = write(tmp_path / "small.toml", _small()), write(tmp_path / "big.toml", _big())
    assert _finish([_start(home, "apply", str(small))])[0][0] == 0
    cert_file, key_file = _import_files(tmp_path)
    procs = [_start(home, "apply", str(big)) for _ in range(3)]
    procs += [
        _start(home, "csr", "tp1", "--out", str(tmp_path / "csr1")),
        _start(home, "trust", "apply"),
        _start(home, "apply", str(big)),
        _start(home, "csr", "tp2", "--out", str(tmp_path / "csr2")),
        _start(home, "import", str(cert_file), "--key", str(key_file), "--identity", "tp3"),
        _start(home, "trust", "apply"),
    ]
    for code, _out, err in _finish(procs):
        assert code == 0, err
        assert "Traceback" not in err
    facts = check_store(home, backend)
    assert facts.names() == _internal_names() | {"tp3"}
    assert set(facts.versions.values()) == {1}, facts.versions
    assert {i: n for (_, i), n in facts.pending.items()} == {"tp1": 1, "tp2": 1}
    # afterwards apply issues nothing more (it may add to the trust stores what the import
    # needs, if the import came last), and then trust apply finds nothing to change
    code, out, err = _finish([_start(home, "apply", str(big))])[0]
    assert code == 0, err
    assert not [x for x in out.splitlines() if x.startswith(("issued", "reissued", "renewed"))]
    code, out, err = _finish([_start(home, "trust", "apply")])[0]
    assert code == 0, err
    assert "nothing to change" in out, out


@contextlib.contextmanager
def _lock_held(home: Path, url: str | None) -> Iterator[None]:
    """The store's write lock, held by this test as another writer would hold it."""
    if url is None:
        con = sqlite3.connect(home / "ccapki.db", isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            con.rollback()
            con.close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
                {"k": _PG_LOCK_CLASS},
            )
            yield
    finally:
        engine.dispose()


def _audit_rows(home: Path, url: str | None) -> int:
    engine = create_engine(url or f"sqlite:///{home / 'ccapki.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit")).scalar() or 0)
    finally:
        engine.dispose()


def test_a_writer_waits_for_the_lock_then_gives_up(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "store"
    _init(home, backend)
    big = write(tmp_path / "big.toml", _big())
    before = _audit_rows(home, backend)
    with _lock_held(home, backend):
        started = time.monotonic()
        code, _out, err = _finish([_start(home, "--wait", "1", "apply", str(big))])[0]
        took = time.monotonic() - started
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines == [
        WAITING.format(1),
        "error: another ccapki is writing to this store (waited 1 s); this command gave up waiting",
        "hint: run the command again once the other one is done, or wait longer with "
        "`ccapki --wait SECONDS ...`",
    ], err
    assert 1 <= took < 15
    assert _audit_rows(home, backend) == before, "a writer that gave up wrote something"
    # the lock is let go once the writer says it waits: it then writes, saying nothing more
    with _lock_held(home, backend):
        proc = _start(home, "--wait", "60", "apply", str(big))
        assert proc.stderr is not None
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.append(proc.stderr.readline()))
        reader.start()
        reader.join(timeout=60)
        assert said == [WAITING.format(60) + "\n"], said
        time.sleep(0.5)
        assert proc.poll() is None, "it did not wait for the lock"
    code, _out, err = _finish([proc])[0]
    assert code == 0, err
    assert err == "", err
    assert check_store(home, backend).names() == _internal_names()


def test_a_writer_that_gets_the_lock_at_once_says_nothing(tmp_path: Path) -> None:
    home = tmp_path / "store"
    _init(home, None)
    code, _out, err = _finish([_start(home, "apply", str(write(tmp_path / "s.toml", _small())))])[0]
    assert code == 0, err
    assert "waiting" not in err
