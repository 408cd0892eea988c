"""Migration 0002: a store made by the release before deployments had names (git commit
a2ab8e8, schema 0001_initial) opens with this code, every row under the name of the
deployment it applied, and works (trust check, inspect, export, apply), on SQLite and on
PostgreSQL.

The old store is made by the old release itself: its source is taken from git
(``git archive a2ab8e8 src``) and its CLI run in a subprocess with it first on PYTHONPATH.
Without that commit (a shallow clone) the tests skip on a developer machine and fail
under CI, like the PostgreSQL ones.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import create_engine, text

import ccapki
from ccapki.pki.certs import fingerprint
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import schema
from kit.cli import FAQ, REPO, Cli, ok, write
from kit.tools import need

OLD_RELEASE = "a2ab8e8"
TABLES = ("keys", "cas", "certificates", "csrs", "trust_entries")
PASSPHRASE = "correct horse battery staple"


_need = need


@pytest.fixture(scope="module")
def old_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source of the old release (its ``src`` folder)."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", OLD_RELEASE, "src"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        _need(f"git cannot give the old release {OLD_RELEASE}: {proc.stderr.decode().strip()}")
    dest = tmp_path_factory.mktemp("old-release")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def old_ccapki(old_src: Path, home: Path, *args: str | Path) -> str:
    """Run the old release's CLI on ``home``; its standard output."""
    env = {**os.environ, "PYTHONPATH": str(old_src)}
    proc = subprocess.run(
        [sys.executable, "-m", "ccapki", "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(
    params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"]
)  # the sqlite case is the SQLite file in home: PostgreSQL runs its own case
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None: the SQLite file in the home folder; else a clean PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url = os.environ.get("CCAPKI_TEST_PG_URL")
    if not url:
        _need("no PostgreSQL: set CCAPKI_TEST_PG_URL to run these tests")
    assert url is not None
    engine = create_engine(url)
    with engine.begin() as conn:  # a clean database for each test
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    return url


def _rows(home: Path, url: str | None) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables that get a deployment, without that column, by table."""
    engine = create_engine(url or f"sqlite:///{home / 'ccapki.db'}")
    out = {}
    try:
        with engine.connect() as conn:
            for table in TABLES:
                cols = [
                    c
                    for c in ("fingerprint", "identity", "version", "spki", "appliance", "state")
                    if c in schema.metadata.tables[table].c
                ]
                out[table] = sorted(
                    tuple(r) for r in conn.execute(text(f"SELECT {', '.join(cols)} FROM {table}"))
                )
    finally:
        engine.dispose()
    return out


def _deployments_column(home: Path, url: str | None) -> dict[str, set[str]]:
    engine = create_engine(url or f"sqlite:///{home / 'ccapki.db'}")
    try:
        with engine.connect() as conn:
            return {
                table: {r[0] for r in conn.execute(text(f"SELECT deployment FROM {table}"))}
                for table in TABLES
            }
    finally:
        engine.dispose()


def _version(home: Path, url: str | None) -> str:
    engine = create_engine(url or f"sqlite:///{home / 'ccapki.db'}")
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def test_a_store_of_the_previous_release_moves_over(
    old_src: Path, db_url: str | None, cli: Cli, home: Path, tmp_path: Path
) -> None:
    old_ccapki(old_src, home, "init", "--key-file")
    old_ccapki(old_src, home, "apply", FAQ)
    old_ccapki(old_src, home, "csr", "cas-clinic", "--out", tmp_path)  # a pending key + CSR
    assert _version(home, db_url) == "0001_initial"  # made by the old release
    before = _rows(home, db_url)
    assert all(before[t] for t in TABLES), before  # every table to move holds rows

    # the new code migrates it when asked (`ccapki upgrade`): every row is the FAQ's
    # deployment's
    with ccapki.open_store(home, url=db_url, upgrade=True) as store:
        assert store.deployments.names() == ["faq-campus"]
        assert store.deployment == "faq-campus"
        current = store.identities.current()
    assert _version(home, db_url) == schema.SCHEMA_HEAD
    assert _rows(home, db_url) == before
    assert _deployments_column(home, db_url) == {t: {"faq-campus"} for t in TABLES}
    assert len(current) == 6

    # and it works: listed, trust check, inspect, export (the key matches), apply
    listed = ok(cli("deployments", "--json")).json()
    assert [(d["name"], d["identities"]) for d in listed] == [("faq-campus", 6)]
    assert ok(cli("trust", "check", "--json")).json()["ok"] is True
    r = ok(cli("inspect", "cas-dorm", "--format", "json"))
    assert r.json()["sha256"].replace(":", "").lower() == current["cas-dorm"].fingerprint
    bundle = tmp_path / "cas-dorm.pem"
    ok(cli("export", "cas-dorm", "--out", bundle))
    cert = x509.load_pem_x509_certificate(bundle.read_bytes())
    key = load_pem_private_key(bundle.read_bytes(), None)
    assert fingerprint(cert) == current["cas-dorm"].fingerprint
    assert public_key_fingerprint(key.public_key()) == current["cas-dorm"].spki
    assert "nothing to do" in ok(cli("apply", FAQ)).out
    with ccapki.open_store(home, url=db_url) as store:
        assert [k.identity for k in store.keys.list() if k.state == "pending"] == ["cas-clinic"]
        assert [c.identity for c in store.csrs.list()] == ["cas-clinic"]

    # a second deployment beside it leaves it as it was
    other = FAQ.read_text().replace('name = "faq-campus"', 'name = "lab"', 1)
    r = ok(cli("apply", write(tmp_path / "lab.toml", other), "--new-deployment"))
    assert "new deployment lab in this store, beside faq-campus" in r.out
    with ccapki.open_store(home, url=db_url, deployment="faq-campus") as store:
        assert store.identities.current() == current
    assert ok(cli("--deployment", "faq-campus", "trust", "check", "--json")).json()["ok"]


def test_a_store_that_applied_nothing_moves_to_default(
    old_src: Path, db_url: str | None, cli: Cli, home: Path, tmp_path: Path
) -> None:
    old_ccapki(old_src, home, "init", "--key-file")
    with ccapki.open_store(home, url=db_url, upgrade=True) as store:
        assert store.deployments.names() == []
        assert store.deployment == schema.DEFAULT_DEPLOYMENT
    assert _version(home, db_url) == schema.SCHEMA_HEAD
    # its first deployment file makes the store's one deployment
    r = ok(cli("apply", FAQ))
    assert "new deployment" not in r.out
    assert ok(cli("deployments", "--json")).json()[0]["name"] == "faq-campus"
