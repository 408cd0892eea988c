"""Items 5 and 6: the store (SQLite + Alembic, every version kept, audit log) and keys at
rest (AES-256-GCM under a data key wrapped by scrypt or kept in a 0600 key file)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import sqlite3
import warnings
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import text
from sqlalchemy.exc import SAWarning

import ccapki.store.session as store_session
from ccapki.errors import StoreError
from ccapki.pki.issue import BACKDATE
from ccapki.pki.keys import private_key_der, public_key_fingerprint
from ccapki.store import Store, schema
from ccapki.store.keyring import Keyring
from kit.certs import NOW
from kit.cli import FAQ, CliRunner, db_bytes, deployment, standalone, write
from kit.pgmode import BACKEND, has_store, store_sql

MIGRATIONS = Path(store_session.__file__).parent / "migrations"


def _key_rows(home: Path) -> list[tuple[str, str, bytes, bytes]]:
    with store_sql(home) as conn:
        rows = conn.execute(text("SELECT fingerprint, state, nonce, sealed FROM keys"))
        return [(fp, state, bytes(nonce), bytes(sealed)) for fp, state, nonce, sealed in rows]


def test_init_then_open(home: Path) -> None:
    Store.init(home, key_file=True, clock=lambda: NOW).close()
    assert has_store(home)
    with Store.open(home) as again:
        assert again.count("certificates") == 0
        assert again.cas.list() == []
        log = again.audit.log()
    assert [e.action for e in log] == ["init"]
    assert log[0].at == NOW
    assert log[0].detail == {"mode": "keyfile"}


def test_init_refuses_to_overwrite(cli: CliRunner, keyfile_store: Path) -> None:
    before = db_bytes(keyfile_store)
    r = cli("init", "--key-file")
    assert r.code == 2
    assert r.err.startswith(f"error: a store already exists at {keyfile_store}")
    assert "\nhint: " in r.err
    assert db_bytes(keyfile_store) == before


def test_default_home_from_env(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # neither set: ~/.local/share/ccapki (HOME points into tmp_path)
    assert cli("init", "--key-file", home_dir=None).code == 0
    assert has_store(tmp_path / "user-home" / ".local" / "share" / "ccapki")
    # XDG_DATA_HOME
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    r = cli("init", "--key-file", home_dir=None)
    assert r.code == 0
    assert has_store(tmp_path / "xdg" / "ccapki")
    assert str(tmp_path / "xdg" / "ccapki") in r.out
    # CCAPKI_HOME wins over XDG_DATA_HOME
    monkeypatch.setenv("CCAPKI_HOME", str(tmp_path / "env-home"))
    assert cli("init", "--key-file", home_dir=None).code == 0
    assert has_store(tmp_path / "env-home")
    # and --home wins over both
    assert cli("init", "--key-file", home_dir=tmp_path / "flag").code == 0
    assert has_store(tmp_path / "flag")
    # commands find the store through the same variable
    path = write(tmp_path / "d.toml", deployment())
    assert cli("apply", str(path), home_dir=None).code == 0
    with Store.open(tmp_path / "env-home") as store:
        assert store.count("certificates") == 1


def test_keyfile_mode_writes_a_private_data_key(keyfile_store: Path) -> None:
    key_file = keyfile_store / "data.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32
    assert keyfile_store.stat().st_mode & 0o077 == 0  # the folder is private too


def test_keys_are_encrypted_at_rest(cli: CliRunner, keyfile_store: Path) -> None:
    assert cli("apply", str(FAQ)).code == 0
    raw = db_bytes(keyfile_store)
    rows = _key_rows(keyfile_store)
    assert len(rows) == 6 + 2  # six identities, the internal root and intermediate
    data_key = bytes.fromhex((keyfile_store / "data.key").read_text().strip())
    right = Keyring(data_key)
    wrong = Keyring(Keyring.new_data_key())
    with Store.open(keyfile_store) as store:
        for fp, _state, nonce, sealed in rows:
            key = store.keys.private_key(fp)
            assert public_key_fingerprint(key) == fp
            der = private_key_der(key)
            # no PKCS#8 DER, no PEM body, no raw private scalar anywhere in the file
            assert der not in raw
            assert base64.b64encode(der)[:48] not in raw
            if isinstance(key, ec.EllipticCurvePrivateKey):
                scalar = key.private_numbers().private_value
                assert scalar.to_bytes((key.curve.key_size + 7) // 8, "big") not in raw
            if isinstance(key, rsa.RSAPrivateKey):
                p = key.private_numbers().p
                assert p.to_bytes((p.bit_length() + 7) // 8, "big") not in raw
            # the sealed blob is AES-GCM: ciphertext + 16-byte tag, 12-byte nonce
            assert len(nonce) == 12
            assert len(sealed) == len(der) + 16
            assert right.open(nonce, sealed, fp) == der
            with pytest.raises(StoreError):
                wrong.open(nonce, sealed, fp)
            with pytest.raises(StoreError):  # the AAD binds a blob to its own key's row
                right.open(nonce, sealed, rows[0][0] if fp != rows[0][0] else rows[1][0])


def test_missing_key_file(cli: CliRunner, keyfile_store: Path) -> None:
    (keyfile_store / "data.key").unlink()
    path = write(keyfile_store.parent / "d.toml", deployment())
    r = cli("apply", str(path))
    assert r.code == 2
    assert "error: the store's key file" in r.err
    assert "\nhint: put back the data.key you saved with this store" in r.err
    assert "ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE" in r.err


def test_passphrase_mode(cli: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "correct horse battery staple")
    r = cli("init")
    assert r.code == 0
    assert "passphrase" in r.out
    assert not (home / "data.key").exists()
    with store_sql(home) as conn:
        value = conn.execute(text("SELECT value FROM meta WHERE key = 'keyring'")).scalar_one()
    record = json.loads(value)
    assert record["mode"] == "passphrase"
    assert record["n"] >= 2**15
    path = write(home.parent / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    assert cli("apply", str(path)).code == 0

    # a changed deployment, so apply would write if it could
    changed = write(home.parent / "d2.toml", deployment(cas=[standalone("cas9", "10.9.0.1")]))
    before = db_bytes(home)
    files_before = sorted(p.name for p in home.iterdir())
    monkeypatch.setenv("CCAPKI_PASSPHRASE", "wrong horse")
    r = cli("apply", str(changed))
    assert r.code == 2
    assert r.err.splitlines()[0] == "error: wrong passphrase for this store"
    assert r.err.splitlines()[1].startswith("hint: set CCAPKI_PASSPHRASE")
    assert "Traceback" not in r.both
    assert db_bytes(home) == before  # nothing changed
    assert sorted(p.name for p in home.iterdir()) == files_before

    monkeypatch.delenv("CCAPKI_PASSPHRASE")
    r = cli("apply", str(changed))
    assert r.code == 2
    assert r.err.startswith("error: the store is locked by a passphrase")
    assert "\nhint: " in r.err
    assert db_bytes(home) == before

    monkeypatch.setenv("CCAPKI_PASSPHRASE", "correct horse battery staple")
    assert cli("apply", str(changed)).code == 0
    assert db_bytes(home) != before


def test_init_without_passphrase(cli: CliRunner, home: Path) -> None:
    r = cli("init")
    assert r.code == 2
    assert r.err.startswith("error: no passphrase to protect the store's keys")
    assert "\nhint: " in r.err
    assert not has_store(home)


def test_missing_store(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", deployment())
    for args in (("apply", str(path)), ("apply", str(path), "--dry-run")):
        r = cli(*args)
        assert r.code == 2
        if BACKEND == "postgresql":  # a database is given: it is the one named
            assert re.match(r"error: the database postgresql\S+ holds no ccapki schema\n", r.err)
            assert "\nhint: run `ccapki init` to create the store in it" in r.err
        else:
            assert r.err.startswith(f"error: no ccapki store at {home}")
            assert f"\nhint: create it with `ccapki --home {home} init`" in r.err
    assert not home.exists()


@pytest.mark.sqlite_only  # a file of garbage as the SQLite database
def test_garbage_database(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    home.mkdir()
    garbage = os.urandom(4096)
    (home / "ccapki.db").write_bytes(garbage)
    path = write(tmp_path / "d.toml", deployment())
    for args in (("apply", str(path)), ("plan", str(path)), ("inspect", "cam")):
        r = cli(*args)
        assert r.code == 2, r.both
        assert r.err.startswith(f"error: {home / 'ccapki.db'} is not a ccapki store")
        assert "\nhint: " in r.err
        assert "Traceback" not in r.both
    assert (home / "ccapki.db").read_bytes() == garbage


@pytest.mark.sqlite_only
def test_an_empty_sqlite_file_is_not_a_store(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    home.mkdir()
    sqlite3.connect(home / "ccapki.db").execute("CREATE TABLE other (x)").connection.close()
    r = cli("apply", str(write(tmp_path / "d.toml", deployment())))
    assert r.code == 2
    db = home / "ccapki.db"
    assert r.err.startswith(f"error: {db} is not a ccapki store (it holds no ccapki tables)")


def test_every_version_is_kept(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    seen: list[tuple[int, str, str]] = []
    for step, when in enumerate((NOW, NOW + dt.timedelta(days=380), NOW + dt.timedelta(days=760))):
        r = cli("apply", str(path), now=when)
        assert r.code == 0, r.both
        assert (f"renewed cam v{step + 1}" if step else "issued cam v1") in r.out
        with Store.open(keyfile_store) as store:
            cur = store.identities.get("cam")
            assert cur is not None
            seen.append((cur.version, cur.fingerprint, cur.spki))
    assert [v for v, _, _ in seen] == [1, 2, 3]
    with Store.open(keyfile_store) as store:
        history = store.identities.history("cam")
        assert [(h.version, h.fingerprint, h.spki) for h in history] == seen
        assert len({h.spki for h in history}) == 3  # a new key per version
        for h in history:
            assert store.keys.has(h.spki)  # every version's key is kept
        assert store.identities.history("cas1")[-1].version == 3
        assert store.count("certificates") == 6
    # each version starts when it was issued (minus the clock-skew backdate)
    starts = [h.certificate.not_valid_before_utc for h in history]
    assert starts == [NOW + dt.timedelta(days=d) - BACKDATE for d in (0, 380, 760)]


def test_audit_log(cli: CliRunner, keyfile_store: Path) -> None:
    assert cli("apply", str(FAQ)).code == 0
    with Store.open(keyfile_store) as store:
        log = list(reversed(store.audit.log(limit=10_000)))
    assert cli("apply", str(FAQ)).code == 0  # idempotent: logs nothing more
    with Store.open(keyfile_store) as store:
        assert len(store.audit.log(limit=10_000)) == len(log)
    actions = [e.action for e in log]
    assert actions[0] == "init"
    assert actions.count("init") == 1
    assert actions.count("deployment") == 1
    assert actions.count("ca-add") == 2
    assert actions.count("issue") == 6
    cas = [e for e in log if e.action == "ca-add"]
    assert {e.detail["kind"] for e in cas} == {"internal-root", "internal-ca"}
    # the CAs are created before anything they sign
    assert actions.index("ca-add") < actions.index("issue")
    issued = {e.subject: e.detail for e in log if e.action == "issue"}
    assert set(issued) == {
        "cam",
        "cas-dorm",
        "cas-library",
        "cas-guest",
        "cas-clinic",
        "cas-annex",
    }
    with Store.open(keyfile_store) as store:
        for name, detail in issued.items():
            cur = store.identities.get(name)
            assert cur is not None
            assert detail["version"] == 1
            assert detail["fingerprint"] == cur.fingerprint
            assert detail["source"] == "internal"
            # the expiry as the log has always written a time (str() of it)
            assert detail["not_after"] == str(cur.certificate.not_valid_after_utc)
    assert all(e.at == NOW for e in log)
    # the log never holds key material
    assert "PRIVATE" not in json.dumps([e.detail for e in log])


def test_alembic_head_is_the_schema_head(keyfile_store: Path) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [schema.SCHEMA_HEAD]
    assert script.get_current_head() == schema.SCHEMA_HEAD
    with store_sql(keyfile_store) as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == schema.SCHEMA_HEAD
    # the migrations create exactly the tables the code uses
    with (
        Store.open(keyfile_store) as store,
        store.engine.connect() as conn,
        warnings.catch_warnings(),
    ):
        # SQLite's reflection skips expression indexes, and Alembic does not compare them,
        # each saying so (lower(users.name): tests/store/test_users_name_index.py checks it)
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
        )
        warnings.filterwarnings(
            "ignore", "autogenerate skipping metadata-specified expression-based index"
        )
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []


def test_keys_never_appear_in_output(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    outputs = []
    text = deployment(
        cas=[
            standalone("cas1", "10.1.0.1", source="self-signed"),
            standalone("cas2", "10.2.0.1", source="perfigo", key="rsa-2048"),
        ]
    )
    path = write(tmp_path / "d.toml", text)
    for args in (
        ("plan", str(path)),
        ("plan", str(path), "--json"),
        ("apply", str(path), "--dry-run"),
        ("apply", str(path)),
        ("apply", str(path), "--json"),
        ("inspect", "cam"),
        ("inspect", "cas1", "--format", "json", "--all"),
        ("inspect", "cas2", "--format", "pem", "--all"),
        ("inspect", "cam", "--format", "text", "--all"),
    ):  # (the demo's output is scanned the same way by the cli fixture in its own test)
        r = cli(*args)
        assert r.code == 0, (args, r.both)
        outputs.append(r.both)
    everything = "\n".join(outputs)
    assert "PRIVATE KEY" not in everything
    with Store.open(keyfile_store) as store:
        fps = [row[0] for row in _key_rows(keyfile_store)]
        assert len(fps) == 3 + 3  # three identities; Perfigo root, internal root and CA
        for fp in fps:
            der = private_key_der(store.keys.private_key(fp))
            assert base64.b64encode(der)[:40].decode() not in everything
            assert der.hex()[:64] not in everything


#: A database URL nothing answers on (port 9 is discard; connecting fails at once).
UNREACHABLE = "postgresql+psycopg://nobody:x@127.0.0.1:9/none"


@pytest.mark.sqlite_only  # no URL given: the SQLite file in home
def test_the_store_is_given_its_url_and_reads_no_environment(
    cli: CliRunner, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the CLI the database URL is a parameter: ``CCAPKI_DATABASE_URL`` is the CLI's."""
    monkeypatch.setenv("CCAPKI_DATABASE_URL", UNREACHABLE)
    # no url given: the SQLite file in home, whatever the environment says
    Store.init(home, key_file=True, clock=lambda: NOW).close()
    assert (home / "ccapki.db").is_file()
    with Store.open(home) as store:
        assert [e.action for e in store.audit.log()] == ["init"]
    assert not Store.exists(tmp_path / "empty")
    assert Store.exists(tmp_path / "empty", UNREACHABLE)
    # a url given is the one used (and named, without its password, when unreachable)
    with pytest.raises(StoreError, match=r"cannot reach the database .*127\.0\.0\.1:9/none"):
        Store.open(home, url=UNREACHABLE)
    # the CLI reads the variable and passes it on
    r = cli("keys", "list")
    assert r.code == 2
    assert r.err.startswith("error: cannot reach the database postgresql+psycopg://nobody:***@")
    monkeypatch.delenv("CCAPKI_DATABASE_URL")
    assert cli("keys", "list").code == 0


def test_repositories_return_frozen_records(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    import dataclasses

    from ccapki.store import (
        AuditEntry,
        CertSource,
        DeploymentRecord,
        KeyRecord,
        KeyState,
        StoredCA,
        StoredIdentity,
        TrustEntry,
    )

    text = deployment(cas=[standalone("cas1", "10.1.0.1", source="self-signed")])
    assert cli("apply", str(write(tmp_path / "d.toml", text))).code == 0
    with Store.open(keyfile_store) as store:
        keys = store.keys.list()
        idents = store.identities.current()
        cas = store.cas.list()
        trust = store.trust.entries("cam")
        log = store.audit.log()
        kept = store.deployments.latest()
        pending = store.keys.list(state=KeyState.PENDING)
    assert all(type(k) is KeyRecord for k in keys)
    assert {k.state for k in keys} == {KeyState.ACTIVE, KeyState.CA}
    assert all(type(k.state) is KeyState for k in keys)
    assert pending == []
    # the enums' values are the strings the database holds (no migration)
    assert {row[1] for row in _key_rows(keyfile_store)} == {"active", "ca"}
    assert {n: type(i) for n, i in idents.items()} == {
        "cam": StoredIdentity,
        "cas1": StoredIdentity,
    }
    assert idents["cam"].source is CertSource.INTERNAL
    assert idents["cas1"].source is CertSource.SELF_SIGNED
    assert {type(c) for c in cas} == {StoredCA}
    assert trust
    assert all(type(e) is TrustEntry for e in trust)
    assert all(type(e) is AuditEntry for e in log)
    assert type(kept) is DeploymentRecord
    assert kept.text == text
    for record in (keys[0], idents["cam"], cas[0], trust[0], log[0], kept):
        field = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
