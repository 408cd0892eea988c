"""What ``ccapki doctor`` reads: the database's own state, and the store's rows streamed.

Read only, always: the database is examined before :class:`~ccapki.store.session.Store`
opens it (which would migrate an older schema), a SQLite file through a read-only
connection. The rows come back as small frozen values, a table at a time and in batches,
so a store of 100,000 identities is never held in memory whole (only the keys' metadata
is, one small record per key). Judging them is :mod:`ccapki.lifecycle.doctor`'s work.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from ccapki.home import DB_NAME
from ccapki.store import schema as t
from ccapki.store.records import SHARED_CAS

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = [
    "CARow",
    "CertRow",
    "DatabaseState",
    "KeyMeta",
    "SealedRow",
    "TrustRow",
    "ca_rows",
    "certificate_count",
    "examine_database",
    "iter_certificates",
    "iter_sealed",
    "iter_trust",
    "key_index",
    "known_revisions",
    "last_audit",
    "last_restored_backup",
]

_BATCH = 2000  # rows fetched at a time


@dataclass(frozen=True)
class DatabaseState:
    """The database before the store is opened.

    ``error``: why it cannot be read at all (unreachable server, not a database), else
    None. ``revision``: its Alembic revision (None: no ``alembic_version`` table).
    ``damage``: what SQLite's integrity check reports (empty: healthy, or PostgreSQL).
    ``read_only``: why a SQLite store cannot be written (a read-only mount, missing write
    permission), else None; it is read, never called damaged, for that.
    ``no_room``: SQLite's error when it could not write beside a SQLite store to read it
    (its -shm file: a full disk, a file-size limit), else None (``error`` says it too).
    """

    backend: str  # "sqlite" | "postgresql" | another SQLAlchemy dialect name
    where: str  # the file, or the URL without its password
    error: str | None = None
    revision: str | None = None
    damage: tuple[str, ...] = ()
    read_only: str | None = None
    no_room: str | None = None


def known_revisions() -> tuple[str, ...]:
    """Every Alembic revision this ccapki knows, oldest first: its schema head
    (:data:`ccapki.store.schema.SCHEMA_HEAD`) and the revisions before it. A migration file
    past that head (a newer ccapki installed under a ccapki still running: the lab, watch,
    serve) is a newer ccapki's, not this one's."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from ccapki.store.schema import SCHEMA_HEAD

    scripts = ScriptDirectory(str(Path(__file__).parent / "migrations"))
    try:
        walked = list(scripts.walk_revisions(base="base", head=SCHEMA_HEAD))
    except CommandError:  # the head's own file is gone: every file there is
        walked = list(scripts.walk_revisions())
    return tuple(reversed([s.revision for s in walked]))


def examine_database(home: Path, url: str | None, *, quick: bool = False) -> DatabaseState:
    """Read the database's revision and, for SQLite, run ``PRAGMA integrity_check`` (or
    ``quick_check`` with ``quick``). Never writes, never raises for a damaged database."""
    if url is None:
        return _examine_sqlite(home / DB_NAME, quick)
    if url.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            return _examine_sqlite(Path(database), quick)
    return _examine_server(url)


def _examine_sqlite(db: Path, quick: bool) -> DatabaseState:
    where = str(db)
    try:
        with db.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        return DatabaseState("sqlite", where, f"it cannot be read ({exc.strerror})")
    if head != b"SQLite format 3\x00":
        why = "it is empty (0 bytes)" if not head else "its header is not SQLite's"
        return DatabaseState("sqlite", where, f"it is not a SQLite database ({why})")
    from ccapki.errors import StoreError
    from ccapki.store.session import read_only_reason, sqlite_read_only_uri

    read_only = read_only_reason(db.parent)
    try:  # on a read-only mount SQLite reads the file as it is (see sqlite_read_only_uri)
        con = sqlite3.connect(sqlite_read_only_uri(db), uri=True)
    except StoreError as exc:
        return DatabaseState("sqlite", where, exc.message, read_only=read_only)
    except sqlite3.Error as exc:
        return DatabaseState("sqlite", where, f"it cannot be opened ({exc})", read_only=read_only)
    revision: str | None = None
    damage: list[str] = []
    try:
        pragma = "quick_check" if quick else "integrity_check"
        try:
            lines = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}(100)")]
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if (
                read_only is not None
                and isinstance(code, int)
                and code & 0xFF == sqlite3.SQLITE_READONLY
            ):
                # SQLITE_READONLY (e.g. READONLY_DIRECTORY: no log index can be made in a
                # folder this user may not write): the file could not be read here, which
                # says nothing of its health; never "damaged, restore a backup"
                return DatabaseState(
                    "sqlite",
                    where,
                    f"SQLite could not read it without writing beside it ({exc})",
                    read_only=read_only,
                )
            from ccapki.store.session import cannot_write_beside

            if cannot_write_beside(exc):  # the -shm file not made: says nothing of health
                return DatabaseState(
                    "sqlite",
                    where,
                    f"SQLite could not write beside it to read it ({exc})",
                    read_only=read_only,
                    no_room=str(exc),
                )
            lines = [f"{pragma} stopped: {exc}"]
        damage = [line for line in lines if line != "ok"]
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" in names:
                revision = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        except (sqlite3.DatabaseError, TypeError) as exc:
            damage.append(f"the schema cannot be read: {exc}")
    finally:
        con.close()
    return DatabaseState("sqlite", where, None, revision, tuple(damage), read_only)


def _examine_server(url: str) -> DatabaseState:
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url

    where = make_url(url).render_as_string(hide_password=True)
    try:
        engine = create_engine(url)
    except Exception as exc:  # a malformed URL, a driver that is not installed
        return DatabaseState("unknown", where, f"{type(exc).__name__}: {exc}")
    backend = engine.dialect.name
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = None
            if inspect(conn).has_table("alembic_version"):
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # the server cannot be reached, bad credentials...
        from ccapki.store.urls import connect_failure

        return DatabaseState(backend, where, f"cannot connect: {connect_failure(exc)[0]}")
    finally:
        engine.dispose()
    return DatabaseState(backend, where, None, revision)


# ---------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class KeyMeta:
    """A sealed key's record, without its bytes."""

    fingerprint: str
    identity: str | None
    state: str
    created_at: dt.datetime
    deployment: str


@dataclass(frozen=True)
class SealedRow:
    """A sealed key as stored (the bytes to unseal, never the key)."""

    fingerprint: str
    identity: str | None
    state: str
    deployment: str
    nonce: bytes
    sealed: bytes


@dataclass(frozen=True)
class CertRow:
    """One version of an identity as stored (text columns, unparsed)."""

    deployment: str
    identity: str
    version: int
    spki: str
    fingerprint: str
    source: str
    pem: str
    chain_pem: str


@dataclass(frozen=True)
class CARow:
    name: str
    kind: str
    spki: str
    fingerprint: str
    pem: str
    deployment: str


@dataclass(frozen=True)
class TrustRow:
    appliance: str
    fingerprint: str
    pem: str
    deployment: str


def key_index(store: Store) -> dict[str, KeyMeta]:
    """Every key's record by public-key fingerprint (a key is one key store-wide)."""
    k = t.keys.c
    q = select(k.fingerprint, k.identity, k.state, k.created_at, k.deployment).order_by(k.id)
    with store.connection() as c:
        return {
            r.fingerprint: KeyMeta(r.fingerprint, r.identity, r.state, r.created_at, r.deployment)
            for r in c.execute(q.execution_options(yield_per=_BATCH))
        }


def certificate_count(store: Store, deployment: str | None = None) -> int:
    q = select(func.count()).select_from(t.certificates)
    if deployment is not None:
        q = q.where(t.certificates.c.deployment == deployment)
    with store.connection() as c:
        return int(c.execute(q).scalar() or 0)


def iter_certificates(store: Store, deployment: str | None = None) -> Iterator[CertRow]:
    """Every version of every identity, by deployment, identity and version (streamed)."""
    c_ = t.certificates.c
    q = select(
        c_.deployment,
        c_.identity,
        c_.version,
        c_.spki,
        c_.fingerprint,
        c_.source,
        c_.pem,
        c_.chain_pem,
    ).order_by(c_.deployment, c_.identity, c_.version)
    if deployment is not None:
        q = q.where(c_.deployment == deployment)
    with store.connection() as c:
        for r in c.execute(q.execution_options(yield_per=_BATCH)):
            yield CertRow(
                r.deployment, r.identity, r.version, r.spki, r.fingerprint, r.source, r.pem,
                r.chain_pem,
            )  # fmt: skip


def iter_sealed(store: Store, deployment: str | None = None) -> Iterator[SealedRow]:
    """Every sealed key (streamed)."""
    k = t.keys.c
    q = select(k.fingerprint, k.identity, k.state, k.deployment, k.nonce, k.sealed).order_by(k.id)
    if deployment is not None:  # and the CAs' keys it shares with others
        q = q.where(k.deployment.in_([deployment, SHARED_CAS]))
    with store.connection() as c:
        for r in c.execute(q.execution_options(yield_per=_BATCH)):
            yield SealedRow(
                r.fingerprint, r.identity, r.state, r.deployment, bytes(r.nonce), bytes(r.sealed)
            )


def ca_rows(store: Store) -> list[CARow]:
    """Every CA, whichever deployment holds it (chains may end at a shared CA)."""
    a = t.cas.c
    with store.connection() as c:
        return [
            CARow(r.name, r.kind, r.spki, r.fingerprint, r.pem, r.deployment)
            for r in c.execute(select(a.name, a.kind, a.spki, a.fingerprint, a.pem, a.deployment))
        ]


def iter_trust(store: Store, deployment: str | None = None) -> Iterator[TrustRow]:
    """The trust entries in force (not removed), streamed."""
    from ccapki.store.truststores import trust_pem

    e = t.trust_entries.c
    q = (
        select(e.appliance, e.fingerprint, trust_pem(), e.deployment)
        .where(e.removed_at.is_(None))
        .order_by(e.id)
    )
    if deployment is not None:
        q = q.where(e.deployment == deployment)
    with store.connection() as c:
        for r in c.execute(q.execution_options(yield_per=_BATCH)):
            yield TrustRow(r.appliance, r.fingerprint, r.pem, r.deployment)


def last_audit(store: Store, action: str) -> dt.datetime | None:
    """When ``action`` was last written to the audit log (None: never)."""
    q = select(t.audit.c.at).where(t.audit.c.action == action).order_by(t.audit.c.id.desc())
    with store.connection() as c:
        value: dt.datetime | None = c.execute(q.limit(1)).scalar()
    return value


def last_restored_backup(store: Store) -> tuple[dt.datetime, str] | None:
    """The newest backup this store was restored from (``backup restore`` logs the
    backup's creation time as ``backup_created_at``): ``(made at, the file)``, or None when
    the store was never restored. A restored backup exists, so it counts as one."""
    import json

    a = t.audit.c
    q = select(a.subject, a.detail).where(a.action == "backup-restore")
    best: tuple[dt.datetime, str] | None = None
    with store.connection() as c:
        for subject, detail in c.execute(q):
            try:
                made = dt.datetime.fromisoformat(str(json.loads(detail)["backup_created_at"]))
            except (ValueError, KeyError, TypeError):
                continue
            if made.tzinfo is None:
                made = made.replace(tzinfo=dt.UTC)
            if best is None or made > best[0]:
                best = (made, str(subject))
    return best
