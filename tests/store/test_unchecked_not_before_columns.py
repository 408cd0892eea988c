"""Schema 0011: each CA's and trust-store entry's start of validity beside its PEM
(``not_before``: status says a CA or root dated ahead ``not-yet-valid`` without parsing
it), and ``certificates.names_unchecked`` (a certificate ``import --force`` took: status
reads its names). The migration fills ``not_before`` from the PEMs (``ccapki upgrade`` of
an older store), rows written without it (an older ccapki, an older backup) are read from
their PEM, and a restore fills it in. On SQLite and on PostgreSQL (``make test-pg``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import create_engine, select, text, update

from ccapki.lifecycle.apply import apply_plan
from ccapki.lifecycle.backups import create_backup, read_backup, restore_backup
from ccapki.lifecycle.status import EARLY_STAGE, estate_status
from ccapki.pki.certs import fingerprint
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.topology.loader import parse_deployment
from kit.cli import FAQ
from kit.jobs import pg_schema
from kit.migrations import alembic_to
from kit.pgmode import store_url

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
BACKUP_PASS = "backup passphrase for tests"
CAM = "cam"  # examples/faq.toml's CAM identity


def _applied(s: Store) -> None:
    apply_plan(s, parse_deployment(FAQ.read_text(), str(FAQ)), now=NOW)


def _assert_each_says_its_start(s: Store) -> None:
    from ccapki.store.truststores import trust_pem

    seen = set()
    with s.connection() as c:
        for tbl in (t.cas, t.trust_entries):
            # a trust entry of a stored CA keeps its PEM in the cas row (0012)
            col = tbl.c.pem if tbl is t.cas else trust_pem()
            for fp, start, pem in c.execute(select(tbl.c.fingerprint, tbl.c.not_before, col)):
                cert = x509.load_pem_x509_certificate(pem.encode())
                assert fingerprint(cert) == fp
                assert start == cert.not_valid_before_utc, (tbl.name, fp)
                seen.add(tbl.name)
    assert seen == {"cas", "trust_entries"}


def _forget_not_before(s: Store) -> None:
    """As rows written by a ccapki before schema 0011's writers."""
    with s.transaction() as c:
        c.execute(update(t.cas).values(not_before=None))
        c.execute(update(t.trust_entries).values(not_before=None))


def _stages(s: Store, now: dt.datetime) -> dict[tuple[str, str], str]:
    report = estate_status(s, now=now)
    return {(i.kind, i.name): i.stage for i in report.items if i.kind in ("ca", "trust-root")}


def test_cas_and_trust_entries_keep_their_start_of_validity(store: Store) -> None:
    _applied(store)
    _assert_each_says_its_start(store)


def test_a_row_without_it_is_read_from_its_pem(store: Store) -> None:
    """A CA row written without ``not_before`` (an older ccapki): status reads its PEM, and
    judges it as the column would."""
    _applied(store)
    earlier = NOW - dt.timedelta(days=2)  # before the CAs apply made at NOW
    with_columns = _stages(store, earlier)
    assert set(with_columns.values()) == {EARLY_STAGE}
    _forget_not_before(store)
    assert _stages(store, earlier) == with_columns
    assert estate_status(store, now=NOW) == estate_status(store, now=NOW)


def test_a_backup_of_rows_without_it_is_restored_with_it(tmp_path: Path, store: Store) -> None:
    _applied(store)
    with store.transaction() as c:  # one certificate taken by `import --force`
        c.execute(
            update(t.certificates)
            .where(t.certificates.c.identity == CAM)
            .values(names_unchecked="import --force")
        )
    _forget_not_before(store)
    path = tmp_path / "old.backup"
    create_backup(store, path, BACKUP_PASS, scrypt_n=2**10)
    target = Store.init(tmp_path / "target", key_file=True, clock=lambda: NOW)
    try:
        fh, reader = read_backup(path, BACKUP_PASS)
        with fh:
            restore_backup(target, reader, source=str(path))
        _assert_each_says_its_start(target)
        with target.connection() as c:
            q = select(t.certificates.c.identity, t.certificates.c.names_unchecked)
            marks = {str(name): why for name, why in c.execute(q)}
        assert marks.pop(CAM) == "import --force"
        assert marks
        assert set(marks.values()) == {None}
    finally:
        target.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_adds_the_columns(tmp_path: Path, backend: str) -> None:
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
            alembic_to(engine, "0010_not_after", up=False)
            with engine.connect() as c:
                for table, column in (
                    ("cas", "not_before"),
                    ("trust_entries", "not_before"),
                    ("certificates", "names_unchecked"),
                ):
                    cols = c.execute(select(text("*")).select_from(text(table))).keys()
                    assert column not in cols, table
        finally:
            engine.dispose()
        s = Store.open(home, clock=lambda: NOW, url=url, upgrade=True)
        try:
            assert s.upgraded is not None
            assert s.upgraded.before == "0010_not_after"
            _assert_each_says_its_start(s)
            with s.connection() as c:
                marks = {r[0] for r in c.execute(select(t.certificates.c.names_unchecked))}
            assert marks == {None}  # nothing tells which a forced import took before
            assert estate_status(s, now=NOW) == before
            earlier = NOW - dt.timedelta(days=2)
            assert set(_stages(s, earlier).values()) == {EARLY_STAGE}
        finally:
            s.close()

    if backend == "sqlite":
        run(None)
    else:
        with pg_schema() as pg:
            run(pg)
