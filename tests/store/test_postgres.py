"""The store on a real PostgreSQL: same migrations, same behaviour as SQLite.

Needs ``CCAPKI_TEST_PG_URL`` (``.ci/run`` starts PostgreSQL and sets it). On a developer
machine without it the tests skip; under CI (``CI`` set) they fail instead of skipping.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ccapki.cli import main
from ccapki.store import Store
from ccapki.store.schema import SCHEMA_HEAD
from kit.cli import FAQ
from kit.tools import clean_pg_url


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> str:
    url = clean_pg_url()  # an empty database
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "correct horse battery staple")
    return url


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_init_apply_trust_on_postgres(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert run(capsys, home, "init")[0] == 0
    assert not (home / "ccapki.db").exists(), "the store must live in PostgreSQL"
    code, out, _ = run(capsys, home, "apply", str(FAQ))
    assert code == 0, out
    assert sum(line.startswith("issued ") for line in out.splitlines()) == 6, out
    code, out, _ = run(capsys, home, "apply", str(FAQ))
    assert "nothing to do" in out
    code, out, _ = run(capsys, home, "trust", "check", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        certs = conn.execute(text("SELECT count(*) FROM certificates")).scalar()
        sealed = conn.execute(text("SELECT sealed FROM keys LIMIT 1")).scalar()
    engine.dispose()
    assert version == SCHEMA_HEAD
    assert certs == 6
    assert b"PRIVATE KEY" not in bytes(sealed)
    with Store.open(home, url=pg_url, passphrase=lambda: "correct horse battery staple") as store:
        ident = store.identities.get("cam")
        assert ident is not None
        assert ident.created_at.tzinfo is not None  # UTC survives the round trip
        key = store.keys.private_key(ident.spki)  # the sealed key opens
        assert key.public_key().public_numbers() == ident.certificate.public_key().public_numbers()


def test_second_init_refused_and_nothing_lost(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert run(capsys, home, "init", "--key-file")[0] == 0
    assert run(capsys, home, "apply", str(FAQ))[0] == 0
    key_before = (home / "data.key").read_bytes()
    other = tmp_path / "other"
    code, _, err = run(capsys, other, "init", "--key-file")
    assert code == 2
    assert "a store already exists" in err
    assert "hint:" in err
    assert not (other / "data.key").exists()
    assert (home / "data.key").read_bytes() == key_before
    code, out, _ = run(capsys, home, "inspect", "cas-dorm", "--format", "json")
    assert code == 0
    assert json.loads(out)["common_name"] == "cas-dorm.example.edu"


def test_wrong_passphrase_changes_nothing_on_postgres(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    assert run(capsys, home, "init")[0] == 0
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "wrong")
    code, _, err = run(capsys, home, "apply", str(FAQ))
    assert code == 2
    assert "wrong passphrase" in err
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM certificates")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM keys")).scalar() == 0
    engine.dispose()
