"""Backups of a real store restored into another (SQLite and PostgreSQL, both ways): the
same certificates, keys (public key equal, a test signature verifies), trust stores (with
their removals) and audit rows; merges into a store that holds data; --identity; newer
data refused unless forced; a damaged or truncated archive refused with nothing written.

Stores are filled by the CLI at test time (apply, a reissue, a CSR, a trust removal);
PostgreSQL stores each get a schema of their own (CI must provide CCAPKI_TEST_PG_URL).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from sqlalchemy import create_engine, select, text

from ccapki.errors import FileFormatError, InputError, NotFoundError, PasswordError
from ccapki.lifecycle.backups import (
    TABLES,
    create_backup,
    read_backup,
    restore_backup,
    verify_backup,
)
from ccapki.store import KeyState, Store
from ccapki.store import schema as t
from ccapki.store.records import ProbeRecord, ProbeVerdict
from kit.cli import FAQ, CliRunner, ok, write
from kit.tools import require_pg_url

BACKUP_PASS = "backup passphrase for tests"
FAST_N = 2**10  # the real scrypt path, cheaper (the file records its cost)


# ---------------------------------------------------------------------------- stores


def _fresh_schema(base: str, name: str) -> str:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"


@pytest.fixture
def pg_schemas() -> Iterator[Callable[[], str]]:
    """Makes PostgreSQL databases of their own (a fresh schema each); dropped afterwards."""
    base = require_pg_url()
    made: list[str] = []

    def make() -> str:
        name = f"backup_{os.getpid()}_{time.monotonic_ns()}"
        made.append(name)
        return _fresh_schema(base, name)

    yield make
    engine = create_engine(base)
    with engine.begin() as conn:
        for name in made:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@dataclass
class Target:
    """A store: its folder and database URL (None: SQLite in the folder)."""

    cli: CliRunner
    home: Path
    url: str | None

    def __call__(self, *args: str | Path) -> Any:
        return self.cli(*args, home_dir=self.home, env={"CCAPKI_DATABASE_URL": self.url})

    def open(self, deployment: str | None = None) -> Store:
        return Store.open(self.home, url=self.url, deployment=deployment)


def make_target(
    cli: CliRunner, tmp_path: Path, name: str, backend: str, pg: Callable[[], str] | None
) -> Target:
    url = pg() if backend == "postgresql" and pg is not None else None
    target = Target(cli, tmp_path / name, url)
    ok(target("init", "--key-file"))
    return target


def fill(store: Target, tmp_path: Path) -> None:
    """Everything a backup must carry: 6 identities, a second version (reissue), a
    pending CSR key and its CSR, CAs with keys, trust entries with a removal, audit rows."""
    ok(store("apply", FAQ))
    ok(store("csr", "cas-clinic", "--out", tmp_path / f"csrs-{store.home.name}"))
    moved = write(
        tmp_path / "faq-moved.toml",
        FAQ.read_text(encoding="utf-8").replace("10.31.0.10", "10.31.0.99"),
    )
    ok(store("apply", moved))  # cas-annex v2 (its names changed)
    with store.open() as s, s.transaction():
        fp = s.trust.entries("cas-annex")[0].fingerprint
        assert s.trust.remove("cas-annex", fp) == 1
    # monitoring state: a probe result, a notification sent, a run
    with store.open() as s, s.scoped("faq-campus"):
        s.probes.add(
            [ProbeRecord("cas-annex", "agent", "127.0.0.1:8443", s.now(), ProbeVerdict.STALE)]
        )
        assert s.notices.claim("cas-annex", "expiry", "30", fp, ["webhook"])
        s.runs.finish(s.runs.start("watch"), ok=True, summary="fine")


def dump(target: Target) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ids and sealed blobs (they differ by design)."""
    order = {
        "deployments": ("name", "loaded_at"),
        "certificates": ("deployment", "identity", "version"),
        "cas": ("fingerprint",),
        "keys": ("fingerprint",),
        "ca_token_keys": ("fingerprint",),
        "csrs": ("identity", "spki"),
        "acme_accounts": ("fingerprint",),
        "acme_orders": ("deployment", "identity", "created_at"),
        "trust_entries": ("deployment", "appliance", "fingerprint", "added_at"),
        "audit": ("id",),
        "notifications": ("deployment", "subject", "stage"),
        "probe_results": ("deployment", "appliance", "at"),
        "runs": ("deployment", "started_at"),
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    with target.open() as s, s.engine.connect() as c:
        for name in TABLES:
            tbl = t.metadata.tables[name]
            cols = [col for col in tbl.columns if col.name not in ("id", "nonce", "sealed")]
            q = select(*cols).order_by(*(tbl.c[k] for k in order[name]))
            out[name] = [tuple(r) for r in c.execute(q)]
    return out


def _sign_check(key: Any, public: Any) -> None:
    msg = b"ccapki backup round trip"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        public.verify(key.sign(msg, ec.ECDSA(hashes.SHA256())), msg, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        public.verify(key.sign(msg), msg)


def keys_work(target: Target, deployment: str | None = None) -> dict[str, bytes]:
    """Every key unseals under the store's own key; each certificate's key has its public
    key and signs what the certificate's public key verifies. Returns fingerprint ->
    public key DER."""
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    out: dict[str, bytes] = {}
    with target.open(deployment) as s:
        for k in s.keys.list():
            out[k.fingerprint] = (
                s.keys.private_key(k.fingerprint).public_key().public_bytes(der, spki)
            )
        for name in s.identities.current():
            for v in s.identities.history(name):
                key = s.keys.private_key(v.spki)
                public = v.certificate.public_key()
                assert key.public_key().public_bytes(der, spki) == public.public_bytes(der, spki)
                _sign_check(key, public)
        for ca in s.cas.list():
            if s.keys.has(ca.spki):
                _sign_check(s.keys.private_key(ca.spki), ca.certificate.public_key())
    return out


def backup_of(target: Target, path: Path) -> Path:
    with target.open() as s:
        create_backup(s, path, BACKUP_PASS, scrypt_n=FAST_N)
    return path


def restore(target: Target, path: Path, **kw: Any) -> Any:
    fh, reader = read_backup(path, BACKUP_PASS)
    with fh, target.open() as s:
        return restore_backup(s, reader, source=str(path), **kw)


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("src", "dst"),
    [("sqlite", "sqlite"), ("sqlite", "postgresql"), ("postgresql", "sqlite")],
)
def test_round_trip_into_a_fresh_store(
    cli: CliRunner,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    src: str,
    dst: str,
) -> None:
    pg = request.getfixturevalue("pg_schemas") if "postgresql" in (src, dst) else None
    source = make_target(cli, tmp_path, "source", src, pg)
    fill(source, tmp_path)
    before = dump(source)
    source_keys = keys_work(source)
    path = backup_of(source, tmp_path / "store.backup")
    assert path.stat().st_mode & 0o777 == 0o600
    with source.open() as s:
        last = s.audit.log(1)[0]
    assert last.action == "backup-create"
    assert last.detail["identities"] == 6
    assert last.subject == str(path.resolve())

    target = make_target(cli, tmp_path, "target", dst, pg)
    summary = restore(target, path)
    assert len(summary.identities) == 6
    after = dump(target)
    for name in TABLES:
        if name == "audit":
            continue
        assert after[name] == before[name], name
    # the audit log: the target's own init row, then the source's rows, then the restore
    assert after["audit"][0][1] == "init"
    assert after["audit"][1:-1] == before["audit"]
    assert after["audit"][-1][1] == "backup-restore"
    # the keys: the same public keys, sealed under the target's own key, and they sign
    assert keys_work(target) == source_keys
    assert {k[3] for k in after["keys"]} >= {"active", "superseded", "pending", "ca"}
    assert any(r[-2] is not None for r in after["trust_entries"]), "a removal was kept"


def test_restore_twice_keeps_everything_once(cli: CliRunner, tmp_path: Path) -> None:
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    path = backup_of(source, tmp_path / "b.backup")
    before = dump(source)
    # into the very store it came from: everything is held already
    summary = restore(source, path)
    assert sum(summary.added.values()) == 0
    after = dump(source)
    assert {n: after[n] for n in TABLES if n != "audit"} == {
        n: before[n] for n in TABLES if n != "audit"
    }
    assert before["audit"][-1][1] == "backup-create"
    assert [r[1] for r in after["audit"][len(before["audit"]) :]] == ["backup-restore"]


def test_merge_into_a_store_with_other_data(cli: CliRunner, tmp_path: Path) -> None:
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    path = backup_of(source, tmp_path / "b.backup")
    other = make_target(cli, tmp_path, "other", "sqlite", None)
    lab = write(
        tmp_path / "lab.toml",
        FAQ.read_text(encoding="utf-8").replace('name = "faq-campus"', 'name = "lab"'),
    )
    ok(other("apply", lab))
    with other.open() as s:
        held_before = {n: s.identities.history(n) for n in s.identities.current()}
    restore(other, path, force=True)  # another store's backup: --force says it is meant
    keys_work(other, "faq-campus")
    keys_work(other, "lab")
    with other.open() as s:
        assert s.deployments.names() == ["faq-campus", "lab"]
    # the lab deployment's identities are untouched
    with other.open("lab") as s:
        for name, versions in held_before.items():
            assert [v.fingerprint for v in s.identities.history(name)] == [
                v.fingerprint for v in versions
            ]


def test_newer_data_is_refused_then_forced(cli: CliRunner, tmp_path: Path) -> None:
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    path = backup_of(source, tmp_path / "b.backup")
    # the store moves on: cas-annex v3
    again = write(
        tmp_path / "faq-again.toml",
        FAQ.read_text(encoding="utf-8").replace("10.31.0.10", "10.31.0.77"),
    )
    ok(source("apply", again))
    before = dump(source)
    with pytest.raises(InputError, match=r"newer data .*cas-annex \(v3 in the store, v2"):
        restore(source, path)
    assert dump(source) == before, "a refused restore wrote something"

    with source.open() as s:
        backup_v2 = s.identities.history("cas-annex")[1]
        v3 = s.identities.history("cas-annex")[2]
    summary = restore(source, path, force=True)
    assert summary.forced == ["faq-campus/cas-annex"]
    with source.open() as s:
        hist = s.identities.history("cas-annex")
        assert [v.version for v in hist] == [1, 2, 3, 4]
        assert hist[3].fingerprint == backup_v2.fingerprint  # the backup's newest is current
        assert hist[2].fingerprint == v3.fingerprint  # the store's v3 is kept in history
        states = {k.fingerprint: k.state for k in s.keys.list(identity="cas-annex")}
        assert states[backup_v2.spki] is KeyState.ACTIVE
        assert states[v3.spki] is KeyState.SUPERSEDED
    keys_work(source)


def test_another_certificate_at_the_same_version_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    a = make_target(cli, tmp_path, "a", "sqlite", None)
    ok(a("apply", FAQ))
    path = backup_of(a, tmp_path / "a.backup")
    b = make_target(cli, tmp_path, "b", "sqlite", None)
    ok(b("apply", FAQ))  # the same names, other keys and certificates
    with a.open() as sa, b.open() as sb:  # b: a made again (its store ID kept)
        sid = sa.store_id()
        with sb.transaction() as conn:
            conn.execute(text("UPDATE meta SET value = :v WHERE \"key\" = 'store_id'"), {"v": sid})
    before = dump(b)
    with pytest.raises(InputError, match="another certificate at v1"):
        restore(b, path)
    assert dump(b) == before


def test_one_identity(cli: CliRunner, tmp_path: Path) -> None:
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    path = backup_of(source, tmp_path / "b.backup")
    target = make_target(cli, tmp_path, "target", "sqlite", None)
    restore(target, path, identity="cas-clinic")
    src, dst = dump(source), dump(target)
    assert dst["certificates"] == [r for r in src["certificates"] if r[0] == "cas-clinic"]
    assert dst["csrs"] == [r for r in src["csrs"] if r[0] == "cas-clinic"]
    clinic_keys = [r for r in src["keys"] if r[2] == "cas-clinic"]
    assert {r[3] for r in clinic_keys} == {"active", "pending"}
    # its keys (the certificate's and the CSR's pending one) and its chain's CAs with theirs
    assert set(clinic_keys) <= set(dst["keys"])
    assert {r[3] for r in dst["keys"]} == {"active", "pending", "ca"}
    assert len(dst["cas"]) == 2
    assert dst["trust_entries"] == []
    with target.open() as s:
        assert list(s.identities.current()) == ["cas-clinic"]
    keys_work(target)
    with pytest.raises(NotFoundError, match="no identity named 'cas-nowhere'"):
        restore(target, path, identity="cas-nowhere")


def test_verify_lists_without_restoring(cli: CliRunner, tmp_path: Path) -> None:
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    path = backup_of(source, tmp_path / "b.backup")
    fh, reader = read_backup(path, BACKUP_PASS)
    with fh:
        contents = verify_backup(reader)
    with source.open() as s:
        held = {n: v.version for n, v in s.identities.current().items()}
    assert {i.name: i.versions for i in contents.identities} == held
    assert held["cas-annex"] == 2
    assert contents.keys_checked == contents.counts["keys"]


# ---------------------------------------------------------------------------- damage


@pytest.fixture
def damaged_setup(cli: CliRunner, tmp_path: Path) -> tuple[Target, bytes, dict[str, Any]]:
    """A real backup, and a store holding other data to restore it into."""
    source = make_target(cli, tmp_path, "source", "sqlite", None)
    fill(source, tmp_path)
    data = backup_of(source, tmp_path / "b.backup").read_bytes()
    target = make_target(cli, tmp_path, "target", "sqlite", None)
    ok(target("apply", write(tmp_path / "one.toml", _one_cas())))
    return target, data, dump(target)


def _one_cas() -> str:
    from kit.cli import deployment, standalone

    return deployment(name="elsewhere", cas=[standalone("cas-x", "10.9.0.1")])


def _attempt(store: Store, path: Path) -> None:
    fh, reader = read_backup(path, BACKUP_PASS)
    with fh:  # another store's backup (meant: force), so the damage is what refuses it
        restore_backup(store, reader, force=True)


def test_flipped_bytes_anywhere_are_refused_and_nothing_written(
    damaged_setup: tuple[Target, bytes, dict[str, Any]], tmp_path: Path
) -> None:
    target, data, before = damaged_setup
    rng = random.Random(11)
    positions = sorted(
        set(range(0, 600, 3)) | set(rng.sample(range(len(data)), 150)) | {len(data) - 1}
    )
    assert len(positions) >= 200
    bad_path = tmp_path / "bad.backup"
    with target.open() as s:
        for pos in positions:
            bad = bytearray(data)
            bad[pos] ^= 1 << rng.randrange(8)
            bad_path.write_bytes(bytes(bad))
            with pytest.raises((FileFormatError, PasswordError)):
                _attempt(s, bad_path)
    assert dump(target) == before


def test_truncated_archives_are_refused_and_nothing_written(
    damaged_setup: tuple[Target, bytes, dict[str, Any]], tmp_path: Path
) -> None:
    target, data, before = damaged_setup
    cuts = sorted({*range(0, len(data), max(1, len(data) // 80)), len(data) - 1})
    assert len(cuts) >= 80
    cut_path = tmp_path / "cut.backup"
    with target.open() as s:
        for size in cuts:
            cut_path.write_bytes(data[:size])
            with pytest.raises(FileFormatError):
                _attempt(s, cut_path)
    assert dump(target) == before


def test_wrong_passphrase_changes_nothing(
    damaged_setup: tuple[Target, bytes, dict[str, Any]], tmp_path: Path
) -> None:
    target, data, before = damaged_setup
    path = write(tmp_path / "b2.backup", data)
    with pytest.raises(PasswordError, match="wrong backup passphrase"):
        read_backup(path, "not the passphrase")
    assert dump(target) == before
