"""Schema 0010, for `status` without the X.509 library (tests/cli/test_cold_start.py): the
store keeps each CA's and each trust-store entry's end of validity beside its PEM, and each
certificate's chain by fingerprint (``chain_fps``, in the covering index of the newest
versions). Rows written without them (an older ccapki, an older backup) are read from
their PEM, and the migration and a restore fill them in. On SQLite and on PostgreSQL
(``make test-pg``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import create_engine, select, text, update

from ccapki.lifecycle.apply import apply_plan
from ccapki.lifecycle.backups import create_backup, read_backup, restore_backup
from ccapki.lifecycle.status import estate_status
from ccapki.pki.certs import fingerprint
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.store.identities import chain_fingerprints
from ccapki.topology.loader import parse_deployment
from kit.cli import FAQ
from kit.jobs import pg_schema
from kit.migrations import alembic_to
from kit.pgmode import store_url

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
BACKUP_PASS = "backup passphrase for tests"


def _applied(s: Store) -> None:
    apply_plan(s, parse_deployment(FAQ.read_text(), str(FAQ)), now=NOW)


def _expiry_rows(s: Store) -> list[tuple[str, str, dt.datetime | None, str]]:
    """(table, fingerprint, not_after, pem) of every CA and trust-store entry."""
    from ccapki.store.truststores import trust_pem

    out = []
    with s.connection() as c:
        for tbl in (t.cas, t.trust_entries):
            # a trust entry of a stored CA keeps its PEM in the cas row (0012)
            pem = tbl.c.pem if tbl is t.cas else trust_pem()
            q = select(tbl.c.fingerprint, tbl.c.not_after, pem).order_by(tbl.c.id)
            out += [(tbl.name, fp, end, pem) for fp, end, pem in c.execute(q)]
    return out


def _chain_rows(s: Store) -> list[tuple[str | None, str]]:
    with s.connection() as c:
        q = select(t.certificates.c.chain_fps, t.certificates.c.chain_pem)
        return [(fps, pem) for fps, pem in c.execute(q)]


def _assert_each_says_its_pem(s: Store) -> None:
    chains = _chain_rows(s)
    assert chains
    for fps, pem in chains:
        held = x509.load_pem_x509_certificates(pem.encode()) if pem.strip() else []
        assert fps == " ".join(fingerprint(c) for c in held)
        assert chain_fingerprints(pem) == [fingerprint(c) for c in held]
    rows = _expiry_rows(s)
    assert {table for table, *_ in rows} == {"cas", "trust_entries"}
    for table, fp, end, pem in rows:
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert fingerprint(cert) == fp
        assert end == cert.not_valid_after_utc, (table, fp)


def _forget_not_after(s: Store) -> None:
    """As rows written by a ccapki before schema 0010's writers."""
    with s.transaction() as c:
        c.execute(update(t.certificates).values(chain_fps=None))
        c.execute(update(t.cas).values(not_after=None))
        c.execute(update(t.trust_entries).values(not_after=None))


def test_cas_and_trust_entries_keep_their_end_of_validity(store: Store) -> None:
    _applied(store)
    _assert_each_says_its_pem(store)


def test_status_reads_a_row_without_it_from_its_pem(store: Store) -> None:
    _applied(store)
    with_columns = estate_status(store, now=NOW)
    assert any(i.kind == "ca" for i in with_columns.items)
    assert any(i.kind == "trust-root" for i in with_columns.items)
    chains = store.identities.current_chain_fingerprints()
    assert len(chains) >= 2  # the internal root and CA
    _forget_not_after(store)
    assert estate_status(store, now=NOW) == with_columns
    assert store.identities.current_chain_fingerprints() == chains


def test_a_backup_of_rows_without_it_is_restored_with_it(tmp_path: Path, store: Store) -> None:
    _applied(store)
    _forget_not_after(store)
    path = tmp_path / "old.backup"
    create_backup(store, path, BACKUP_PASS, scrypt_n=2**10)
    target = Store.init(tmp_path / "target", key_file=True, clock=lambda: NOW)
    try:
        fh, reader = read_backup(path, BACKUP_PASS)
        with fh:
            restore_backup(target, reader, source=str(path))
        _assert_each_says_its_pem(target)
    finally:
        target.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_fills_the_columns_from_the_pems(tmp_path: Path, backend: str) -> None:
    def run(url: str | None) -> None:
        home = tmp_path / "store"
        s = Store.init(home, key_file=True, clock=lambda: NOW, url=url)
        try:
            _applied(s)
            before = estate_status(s, now=NOW)
        finally:
            s.close()
        engine = create_engine(url or store_url(home))
        try:
            alembic_to(engine, "0009_deployment_facts", up=False)
            with engine.connect() as c:
                for table in ("cas", "trust_entries"):
                    cols = c.execute(select(text("*")).select_from(text(table))).keys()
                    assert "not_after" not in cols
                cols = c.execute(select(text("*")).select_from(text("certificates"))).keys()
                assert "chain_fps" not in cols
        finally:
            engine.dispose()
        s = Store.open(home, clock=lambda: NOW, url=url, upgrade=True)
        try:
            assert s.upgraded is not None
            assert s.upgraded.before == "0009_deployment_facts"
            _assert_each_says_its_pem(s)
            assert estate_status(s, now=NOW) == before
        finally:
            s.close()

    if backend == "sqlite":
        run(None)
    else:
        with pg_schema() as pg:
            run(pg)
