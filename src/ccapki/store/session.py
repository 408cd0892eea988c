"""The store session: one database (SQLite in the home folder by default), one open
transaction at a time, and the repositories that read and write it.

Nothing is overwritten: every certificate is a new version of its identity, trust-store
removals are marked, not deleted, and every change and every private-key export is written
to the audit log. Private keys are sealed by :class:`ccapki.store.keyring.Keyring`.

    with Store.open(home, passphrase=ask) as store:
        store.identities.current()        # name -> StoredIdentity
        store.keys.list(state=KeyState.PENDING)

The database URL is given by the caller (the CLI reads ``CCAPKI_DATABASE_URL``); without
one the store is the SQLite file in ``home``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ccapki.errors import (
    CcapkiError,
    InputError,
    NotFoundError,
    PasswordError,
    StoreBusy,
    StoreError,
    StoreOutdated,
)
from ccapki.home import DB_NAME, KEY_FILE, sqlite_url, store_exists
from ccapki.store.records import DEFAULT_DEPLOYMENT, SCHEMA_HEAD

if TYPE_CHECKING:
    # SQLAlchemy is loaded when a store is first written, or read on a database server:
    # a command that only reads a SQLite store (`keys list`, `trust check`, `inspect`,
    # `plan`) reads it through sqlite3 alone (see Store.rows), ~0.15 s sooner. The X.509
    # and AEAD code are loaded where a certificate is parsed or a key sealed.
    from cryptography import x509
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from ccapki.store.audit import AuditLog, DeploymentRepository
    from ccapki.store.cas import CARepository
    from ccapki.store.csrs import CsrRepository
    from ccapki.store.identities import IdentityRepository
    from ccapki.store.keyring import Keyring
    from ccapki.store.keys import KeyRepository
    from ccapki.store.monitoring import NoticeRepository, ProbeRepository, RunRepository
    from ccapki.store.service import (
        JobRepository,
        LoginThrottle,
        SessionRepository,
        TokenRepository,
        UserRepository,
    )
    from ccapki.store.tokenkeys import TokenKeyRepository
    from ccapki.store.truststores import TrustStoreRepository

__all__ = [
    "BUSY_HINTS",
    "MIN_PASSPHRASE",
    "STORE_ID_KEY",
    "PassphraseProvider",
    "Store",
    "Upgrade",
    "cannot_write_beside",
    "kept_copies",
    "read_only_error",
    "read_only_reason",
    "sqlite_read_only_uri",
    "upgrade_hint",
]

#: the ``meta`` key of the store's ID (:meth:`Store.store_id`)
STORE_ID_KEY = "store_id"

_PARSED_MAX = 200_000  # parsed certificates a Store keeps in memory at most

PassphraseProvider = Callable[[], str]
Clock = Callable[[], dt.datetime]
#: Told once when a write must wait for another writer: how long it waits at most (s).
WaitNotice = Callable[[float], None]
#: Who opened a store (:attr:`Store.caller`): what a :class:`StoreBusy` hint may name.
Caller = Literal["api", "cli", "service"]
#: The hint of a :class:`StoreBusy` (a writer that gave up waiting), in its caller's words:
#: the command line's ``--wait``, the Python API's ``wait=`` of ``open_store``; a client of
#: the REST service has no such setting, only a retry.
BUSY_HINTS: Mapping[Caller, str] = {
    "cli": "run the command again once the other one is done, or wait longer with "
    "`ccapki --wait SECONDS ...`",
    "api": "call it again once the other writer is done, or wait longer: open the store "
    "with ccapki.open_store(..., wait=SECONDS)",
    "service": "send the request again once the other writer is done (in a few seconds: "
    "see Retry-After)",
}
#: How long a writer waits for another ccapki's write lock by default (seconds).
DEFAULT_WAIT = 60.0
#: The PostgreSQL advisory lock that is the store's write lock: ("ccap" in ASCII, the hash
#: of the store's schema), so stores in other schemas of the database never wait for it.
_PG_LOCK_CLASS = 0x63636170
#: A write lock taken within this long is not worth a "waiting" line.
_QUIET_WAIT = 0.2
#: ``conn.info`` flag: the connection's transaction was begun by the write lock.
_BEGUN = "ccapki_begun"
#: Held while a Store makes its engine (see Store.engine).
_ENGINE_LOCK = threading.Lock()
#: The page size of a new SQLite store (bytes; see _sqlite_pragmas).
SQLITE_PAGE_SIZE = 16384
#: The shortest passphrase ``init`` accepts (existing stores open with whatever they have).
MIN_PASSPHRASE = 8


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # ccapki says BEGIN itself (see _sqlite_begin): the sqlite3 module's own transaction
    # handling begins only before a data change, so a read-then-write transaction could
    # decide on what another writer changes meanwhile
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # a new database's pages (an existing one keeps its own): a certificate row holds the
    # certificate's and its chain's PEM (~2.5 KB), one per 4 KB page by default; at 16 KB,
    # six, and a bulk apply writes a third less and spends half the CPU in SQLite
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Every transaction begins here: a reader's snapshot starts at its first read; a
    writer's BEGIN IMMEDIATE was said already by :meth:`Store.transaction`."""
    if not conn.info.pop(_BEGUN, False):
        conn.exec_driver_sql("BEGIN")


def _engine(url: str) -> Engine:
    """The engine of the database URL ``url`` (``CCAPKI_DATABASE_URL``)."""
    from sqlalchemy import create_engine

    from ccapki.store.urls import check_database_url

    check_database_url(url)  # not a URL, MySQL...: a StoreError with a hint, not exit 70
    return _listened(create_engine(url))


def _file_engine(db: Path) -> Engine:
    """The engine of the store's SQLite file ``db``: the path as it is, never read as a
    URL (a store folder named ``a?b``, ``x#1`` or ``50%20`` put its database elsewhere)."""
    from sqlalchemy import URL, create_engine

    return _listened(create_engine(URL.create("sqlite", database=str(db))))


def _listened(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        from sqlalchemy import event

        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_read_only_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # no journal_mode (setting it writes): the file keeps the mode it was left in
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def read_only_reason(home: Path) -> str | None:
    """Why the SQLite store in ``home`` cannot be written (a read-only file system, a
    folder or database file without write permission for this user), or None when it
    can. Root is not stopped by permission bits, only by a read-only mount."""
    db = home / DB_NAME
    with contextlib.suppress(OSError):
        if os.statvfs(home).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    if not os.access(home, os.W_OK):
        return f"this user may not write in its folder {home}"
    if db.exists() and not os.access(db, os.W_OK):
        return f"this user may not write {db}"
    for log in (db.with_name(f"{db.name}-wal"), db.with_name(f"{db.name}-shm")):
        # SQLite gives its log files the database's mode when it makes them: a reader of a
        # 0400 ccapki.db left them 0400, and every write then failed ("attempt to write a
        # readonly database", exit 70) once ccapki.db was writable again
        with contextlib.suppress(OSError):
            if not os.access(log, os.W_OK) and log.stat().st_uid == os.geteuid():
                os.chmod(log, 0o600)
        if log.exists() and not os.access(log, os.W_OK):
            return f"this user may not write {log}"
    return None


def sqlite_read_only_uri(db: Path) -> str:
    """The ``file:`` URI that opens the SQLite file ``db`` read-only, never writing
    anything (for ``sqlite3.connect(uri, uri=True)``).

    ``mode=ro`` where SQLite can read it so (a writable folder, or a write-ahead log with
    its index left in place); else, in a folder it cannot write (a read-only mount), the
    file as it is (``immutable=1``: no locks, no log index).

    Raises :class:`StoreError` when a write-ahead log with unmerged writes is there and
    cannot be read without writing its index.
    """
    base = f"{db.absolute().as_uri()}?mode=ro"
    try:
        con = sqlite3.connect(base, uri=True)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return base
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        # CANTOPEN (a read-only mount) or READONLY_DIRECTORY (a folder this user may not
        # write: SQLite cannot make the log's index beside the file): read the file as it is
        if getattr(exc, "sqlite_errorcode", None) not in (
            sqlite3.SQLITE_CANTOPEN,
            getattr(sqlite3, "SQLITE_READONLY_DIRECTORY", 1544),
        ):
            return base  # the open reports what else is wrong
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"{db} is read-only and its write-ahead log {wal.name} holds writes not yet "
            "merged into it, which SQLite cannot read without writing its index",
            "make the store folder writable once (check its permissions, or remount it "
            "read-write) and run any ccapki command to merge the log; then it reads "
            "read-only",
        )
    return f"{base}&immutable=1"


def read_only_error(home: Path, why: str) -> StoreError:
    """The error a command that writes gets on a read-only store (``why``: the reason)."""
    return StoreError(
        f"the store at {home} is read-only ({why}): this command writes to it",
        f"check the permissions of {home} and its {DB_NAME} (the user running ccapki "
        "must be able to write both), or the mount (`findmnt -T "
        f"{home}`; `mount -o remount,rw ...`); reading commands (status, inspect, keys "
        "list, trust check, plan, export of certificates) work as it is",
    )


def _read_only_engine(db: Path) -> Engine:
    """An engine reading the SQLite file ``db`` without ever writing it."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    uri = sqlite_read_only_uri(db)
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=QueuePool,
    )
    event.listen(engine, "connect", _sqlite_read_only_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _read_only_refusal(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused a write to a read-only database (or query_only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_READONLY


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the write lock."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextlib.contextmanager
def _write_lock(
    conn: Connection, wait: float, on_wait: WaitNotice | None, caller: Caller = "api"
) -> Iterator[None]:
    """Begin ``conn``'s transaction holding the store's write lock (see
    :meth:`Store.transaction`); commit at the end of the block, roll back on an error.

    Waits up to ``wait`` seconds (``on_wait`` is told once when that takes a while), then
    raises :class:`StoreBusy` (its hint in ``caller``'s words: :data:`BUSY_HINTS`).
    """
    started = time.monotonic()
    told = False

    def waited() -> None:  # another writer holds the lock: say so once, or give up
        nonlocal told
        spent = time.monotonic() - started
        if spent >= wait:
            raise StoreBusy(
                # the wait is this command's, not how long the other has been writing
                f"another ccapki is writing to this store (waited {wait:g} s); "
                "this command gave up waiting",
                BUSY_HINTS[caller],
            )
        if not told and spent >= _QUIET_WAIT and on_wait is not None:
            told = True
            on_wait(wait)

    dialect = conn.engine.dialect.name
    if dialect == "sqlite":
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        try:
            while True:
                # short tries: a signal (Ctrl-C) is handled between them, never held up by
                # SQLite's busy wait
                raw.execute("PRAGMA busy_timeout=100")
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _busy(exc):
                        raise
                waited()
        finally:
            raw.execute("PRAGMA busy_timeout=5000")
        conn.info[_BEGUN] = True
        with conn.begin():
            yield
        return
    trans = conn.begin()
    try:
        if dialect == "postgresql":
            from sqlalchemy import func, literal, select

            lock = select(
                func.pg_try_advisory_xact_lock(
                    literal(_PG_LOCK_CLASS), func.hashtext(func.current_schema())
                )
            )
            while not conn.execute(lock).scalar():
                waited()
                time.sleep(0.05)
        yield
    except BaseException:
        try:
            trans.rollback()
        except Exception:
            # a signal landed inside the driver mid-statement (psycopg: "cannot exit
            # pipeline mode while busy"): the connection is dropped, and the server rolls
            # the transaction back as it goes; what the caller raised is what it sees
            conn.invalidate()
        raise
    else:
        if trans.is_active:  # not when the block rolled it back (Store.rollback: a what-if)
            trans.commit()


@dataclass(frozen=True)
class Upgrade:
    """A store brought to this version's schema by :meth:`Store.open` with ``upgrade``:
    the revision it had (``before``), the one it has (``after``) and, for a SQLite store,
    the copy of its database file as it was (``copy``, 0600, beside it; None on a
    database server, whose own backups keep the old state)."""

    before: str
    after: str
    copy: Path | None


#: the UTC time in the name of the copy `ccapki upgrade` keeps (``ccapki.db.<rev>.<time>``)
_COPY_STAMP = "%Y%m%dT%H%M%SZ"


def kept_copies(db: Path) -> list[tuple[Path, str, dt.datetime]]:
    """The copies of the SQLite database ``db`` that `ccapki upgrade` kept beside it
    (``ccapki.db.<revision>.<UTC time>``; a half-written ``.part`` is none): each its
    path, the schema revision it holds and when it was made, oldest first. Reads the
    folder only; returns [] when it cannot be listed."""
    import glob

    found: list[tuple[Path, str, dt.datetime]] = []
    try:
        names = [p for p in db.parent.glob(f"{glob.escape(db.name)}.*.*") if p.is_file()]
    except OSError:
        return []
    for path in names:
        revision, _, stamp = path.name[len(db.name) + 1 :].rpartition(".")
        try:
            made = dt.datetime.strptime(stamp, _COPY_STAMP).replace(tzinfo=dt.UTC)
        except ValueError:  # a .part, or another file's name
            continue
        if revision:
            found.append((path, revision, made))
    return sorted(found, key=lambda c: c[2])


def _keep_copy(db: Path, version: str) -> Path:
    """Copy the SQLite database ``db`` (a consistent snapshot, through SQLite's backup
    API) to ``ccapki.db.<version>.<UTC time>`` beside it, 0600, written whole or not at
    all. Returns its path; raises :class:`StoreError` when it cannot be written (nothing
    is migrated then)."""
    stamp = dt.datetime.now(dt.UTC).strftime(_COPY_STAMP)
    target = db.with_name(f"{db.name}.{version}.{stamp}")
    part = target.with_name(target.name + ".part")
    for stale in db.parent.glob(f"{db.name}.*.part"):  # an upgrade killed while copying
        with contextlib.suppress(OSError):
            stale.unlink()
    try:
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        src = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        os.chmod(part, 0o600)
        os.replace(part, target)
    except BaseException as exc:  # a signal too: no half-written copy is left behind
        with contextlib.suppress(OSError):
            part.unlink()
        if not isinstance(exc, OSError | sqlite3.Error):
            raise
        raise StoreError(
            f"could not keep a copy of {db} before upgrading it ({exc}): nothing was changed",
            f"make room in {db.parent} (the copy is as large as the store) and check its "
            "permissions, then run `ccapki upgrade` again",
        ) from None
    return target


def upgrade_hint(url: str | None, version: str, command: str = "ccapki upgrade") -> str:
    """What to run on a store whose schema ``version`` is older than this ccapki's:
    ``command`` (`ccapki upgrade`; the CLI gives the exact one, `ccapki --home X upgrade`),
    which copies a SQLite store first; a database server's store (``url``) is
    not copied, so the hint begins with the ``pg_dump`` that backs it up (its password left
    out: pg_dump asks, or reads ~/.pgpass). Returns the hint's text."""
    if url is None or url.startswith("sqlite:"):
        return (
            f"upgrade it once with `{command}` (it keeps a copy of the store as it "
            "was); or keep using the ccapki that made it"
        )
    import shlex

    from sqlalchemy.engine import URL, make_url

    try:
        given = make_url(url)
        plain = URL.create(  # libpq's own URL: no driver, no password
            "postgresql", given.username, None, given.host, given.port, given.database
        ).update_query_dict(dict(given.query))  # (libpq's options too: a search_path)
        target = shlex.quote(plain.render_as_string(hide_password=False))
    except Exception:  # not a URL: the engine says so
        target = "DATABASE"
    return (
        f"back it up first, `pg_dump {target} > ccapki-{version}.sql` (a database "
        "server's store is migrated in one transaction, with no copy kept), then upgrade "
        f"it once with `{command}`; or keep using the ccapki that made it"
    )


def _migrate(
    engine: Engine,
    keep_copy_of: Path | None = None,
    wait: float = DEFAULT_WAIT,
    on_wait: WaitNotice | None = None,
    caller: Caller = "api",
) -> tuple[str, Path | None] | None:
    """Bring the schema to this version's, under the write lock: processes opening an
    older store at once migrate it once (the others find it done). With ``keep_copy_of``
    (the SQLite file), its copy is kept first, under the same lock: it holds every write
    committed before the migration, and is never of a store another upgrade migrated.
    ``wait`` and ``on_wait`` as for :meth:`Store.transaction` (`ccapki --wait`).

    Returns the revision migrated from and the copy; None when the store was at this
    version's schema once locked. Raises :class:`StoreError` as :func:`_keep_copy` does."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.connect() as conn, _write_lock(conn, wait, on_wait, caller):
        before = (
            str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())
            if inspect(conn).has_table("alembic_version")
            else None
        )
        if before == SCHEMA_HEAD:
            return None
        copy = _keep_copy(keep_copy_of, before) if keep_copy_of and before else None
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "head")
        except BaseException:  # rolled back (0006 refusing the rows, Ctrl-C): "nothing
            if copy is not None:  # was changed", so no copy is left behind either
                with contextlib.suppress(OSError):
                    copy.unlink()
            raise
    return (before or "", copy)


def _create_schema(engine: Engine) -> None:
    """The schema of a new store: every table of :mod:`ccapki.store.schema` made in one
    step and stamped at this version's revision (Alembic's "build an up-to-date database
    from scratch"), under the write lock, in one transaction. Running every migration in
    turn builds the same schema (a test compares the two on both backends) at several
    times the cost: SQLite rebuilds tables to alter them, PostgreSQL answers each DDL
    statement. A database that holds any table of ours already goes through
    :func:`_migrate` as ever (it upgrades a store, or refuses what it cannot)."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect

    from ccapki.store import schema as t

    with engine.connect() as conn, _write_lock(conn, DEFAULT_WAIT, None):
        present = set(inspect(conn).get_table_names())
        if present & (set(t.metadata.tables) | {"alembic_version"}):
            found = True
        else:
            found = False
            if conn.dialect.name == "postgresql":
                # every CREATE sent in one round trip (create_all sends each alone: 43 of
                # them, a third of a new store's time on a PostgreSQL server)
                from sqlalchemy.schema import CreateIndex, CreateTable

                ddl = []
                for table in t.metadata.sorted_tables:
                    ddl.append(str(CreateTable(table).compile(conn)))
                    ddl += [str(CreateIndex(ix).compile(conn)) for ix in table.indexes]
                conn.exec_driver_sql(";\n".join(ddl))
            else:
                t.metadata.create_all(conn, checkfirst=False)
            # Alembic's own version table, as `alembic stamp` makes it
            version = Table(
                "alembic_version",
                MetaData(),
                Column("version_num", String(32), nullable=False),
                PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
            )
            version.create(conn)
            conn.execute(version.insert().values(version_num=SCHEMA_HEAD))
    if found:
        _migrate(engine)


def _schema_version(engine: Engine) -> str | None:
    """The store's Alembic revision, None when the database holds no ccapki schema: one
    query when it does (every open asks; at this version's head no migration runs)."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError

    query = text("SELECT version_num FROM alembic_version")
    with engine.connect() as conn:
        try:
            return conn.execute(query).scalar()
        except DBAPIError:  # no such table, or worse: look, then ask again (it raises)
            conn.rollback()
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(query).scalar()


def _current_reader(db: Path, read_only: str | None) -> sqlite3.Connection | None:
    """sqlite3's own connection to the store's SQLite file ``db``, which never writes
    (``PRAGMA query_only``), when the file holds this ccapki's schema; None otherwise (the
    full open then says what is wrong, or upgrades it). A store that cannot be written
    (``read_only``: why) is read as :func:`sqlite_read_only_uri` says; another is opened
    as the engine opens it (the last connection to close merges the write-ahead log and
    removes it, as ever: a reading command leaves the folder as it found it)."""
    try:
        uri = sqlite_read_only_uri(db) if read_only else f"{db.absolute().as_uri()}?mode=rw"
        con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except (sqlite3.Error, StoreError):
        return None
    try:
        con.execute("PRAGMA query_only=ON")
        con.execute("PRAGMA busy_timeout=5000")
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    if row is None or row[0] != SCHEMA_HEAD:
        con.close()
        return None
    return con


def _unreachable(engine: Engine, exc: Exception) -> StoreError:
    from ccapki.store.urls import connect_failure

    why, hint = connect_failure(exc)  # the server's words: a wrong password is not "down"
    return StoreError(
        f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: {why}",
        hint,
    )


def _sqlite_file(url: str, home: Path) -> Path:
    """The database file of a ``sqlite:///PATH`` URL (``CCAPKI_DATABASE_URL`` may name one
    outside the store folder); the store folder's own for another URL."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database if url.startswith("sqlite:") else None
    except Exception:  # not a URL: the engine says so
        database = None
    return Path(database) if database and database != ":memory:" else home / DB_NAME


def _write_trouble(exc: BaseException) -> str | None:
    """Why a SQLite write failed with a full or failing disk (``database or disk is
    full``, ``disk I/O error``), looked for in ``exc`` and what it was raised from or
    while handling (Alembic's cleanup after the failed write raises its own error on top),
    else None."""
    from ccapki._util import sqlite_trouble

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        found = sqlite_trouble(cur)
        if found is not None and found[0] in ("full", "failing"):
            return found[1]
        cur = cur.__cause__ or cur.__context__
    return None


def _refuse_odd_place(home: Path, url: str | None) -> None:
    """What the command line refuses before it opens or makes a store, refused here too
    (the Python API: ``open_store``, ``Store.open``, ``Store.init``), in the same words: a
    database URL no store can live at or that names no file (``sqlite://``, ``sqlite:///``:
    in memory), and a database file that is a folder, a FIFO (reading it hung) or another
    non-regular file. Reads nothing (``stat`` only). Raises :class:`StoreError`."""
    from ccapki.store.home import refuse_odd_database

    if url:
        from ccapki.store.urls import check_store_url

        check_store_url(url)
        if url.startswith("sqlite:"):
            refuse_odd_database(_sqlite_file(url, home))
        return
    refuse_odd_database(home / DB_NAME)


def _not_a_store(db: Path) -> str | None:
    """Why the SQLite file ``db``, which is there, is not a ccapki store; None when it is
    one, is not there, or cannot be told apart from one here (the open then says). Reads
    only: another program's database is never changed."""
    if db.is_dir():  # was "not a ccapki store (OperationalError)"
        return "it is a folder"
    try:
        with db.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if not head:
        return "it is empty (0 bytes)"
    if head != b"SQLite format 3\x00":
        return "it is not a SQLite database"
    try:
        con = sqlite3.connect(sqlite_read_only_uri(db), uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return None if "alembic_version" in names else "it holds no ccapki tables"


def _new_key_file(path: Path, data: bytes) -> None:
    """Write a new ``data.key`` (0600 from the start, fsynced), never over an existing file:
    a temporary file beside it (named as ccapki names them: a kill leaves none for long),
    then hard-linked to its name, which fails when the name exists (another ``init`` made
    it meanwhile). A file system without hard links gets the file made exclusively in
    place. Raises :class:`FileExistsError` then, :class:`OSError` as writing does."""
    from ccapki.fsutil import _temp_beside

    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (EPERM, ENOTSUP...): exclusive in place
            new = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(new, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _move_away(db: Path) -> str:
    """The one fix for a file in the store's place that is not a store."""
    return (
        f"move it away (`mv {db} {db}.bak`), then `ccapki init` makes a new store there; "
        "or point --home / CCAPKI_HOME at the folder of your store"
    )


#: The one fix for a store folder holding a data key without its database.
_KEY_WITHOUT_DB = (
    f"restore {DB_NAME} from your backup into the store folder; to start a new store there "
    "instead, move data.key away first (the keys sealed by it are lost with the database), "
    "then run `ccapki init`"
)


#: the wrapped data key's record in the meta table no longer parses
_KEYRING_DAMAGED_HINT = (
    "restore your last backup into a new store (`ccapki --home NEWDIR init && ccapki "
    "--home NEWDIR backup restore FILE`); `ccapki doctor` lists what else is damaged"
)


#: a SQLite store whose file SQLite can no longer read (truncated, bytes changed)
_DAMAGED_DB_HINT = (
    "stop writing to it; `ccapki doctor` says what is damaged; restore your last backup into "
    "a new store (`ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE`), "
    "or salvage the rows: `sqlite3 {db} .recover | sqlite3 recovered.db`"
)


#: SQLite's extended codes for a shared-memory (-shm) file it could not make or grow
_SHM_ERRORS = frozenset(
    getattr(sqlite3, name, code)
    for name, code in (
        ("SQLITE_IOERR_SHMOPEN", 4618),
        ("SQLITE_IOERR_SHMSIZE", 4874),
        ("SQLITE_IOERR_SHMMAP", 5386),
    )
)


def cannot_write_beside(exc: BaseException) -> bool:
    """Whether the SQLite error ``exc``, opening a store, says that nothing could be
    written beside its database: the -shm file not made (a full disk, a file-size limit
    of 0), or the disk full."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return False
    return code in _SHM_ERRORS or code & 0xFF == sqlite3.SQLITE_FULL


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: a lost or damaged data.key: a backup holds none (restore re-seals every key)
_KEY_FILE_HINT = (
    "put back the data.key you saved with this store (a `ccapki backup` holds none: its keys "
    "are re-sealed on restore); without it, restore a backup into a new store: "
    "`ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE`"
)


def _checked_engine(
    home: Path,
    url: str | None,
    read_only: str | None,
    upgrade: bool,
    wait: float = DEFAULT_WAIT,
    on_wait: WaitNotice | None = None,
    caller: Caller = "api",
) -> tuple[Engine, Upgrade | None]:
    """The engine of the store (see :meth:`Store.open`), its schema checked: this
    ccapki's, or brought to it with ``upgrade`` (what was done: the :class:`Upgrade`).

    Raises :class:`StoreError` as :meth:`Store.open` says."""
    engine = (
        _read_only_engine(home / DB_NAME)
        if read_only
        else (_engine(url) if url else _file_engine(home / DB_NAME))
    )
    try:
        version = _schema_version(engine)
    except Exception as exc:  # sqlite3.DatabaseError: file is not a database
        engine.dispose()
        if not str(engine.url).startswith("sqlite"):
            raise _unreachable(engine, exc) from None
        where = _sqlite_file(url, home) if url else home / DB_NAME  # a sqlite:/// URL's
        if url and not where.exists():
            raise StoreError(
                f"no ccapki store at {where}",
                "check CCAPKI_DATABASE_URL (sqlite:///PATH names the database file), "
                "or run `ccapki init` first",
            ) from None
        orig = getattr(exc, "orig", None) or exc
        if isinstance(orig, sqlite3.OperationalError) and _busy(orig):
            # another program's exclusive lock (locking_mode=EXCLUSIVE, a rollback
            # journal's writer): was "not a ccapki store (OperationalError)"
            raise StoreBusy(
                f"another program holds {where} locked (SQLite: {orig}); nothing was "
                "read or changed",
                "run the command again once it is done (`fuser -v FILE` names it: a "
                "sqlite3 shell left open on the store, a backup tool)",
            ) from None
        from ccapki._util import sqlite_trouble

        trouble = sqlite_trouble(exc)
        if cannot_write_beside(orig) and _not_a_store(where) is None:
            # SQLite could not make the -shm/-wal files it reads a WAL store through:
            # was "not a ccapki store (OperationalError)"
            raise StoreError(
                f"cannot write beside the store's database {where}: SQLite must create "
                f"{where.name}-shm and {where.name}-wal in {where.parent} to read it, and "
                f"the disk is full or a file-size limit stops it (SQLite: {orig}); nothing "
                "was read or changed",
                f"make room on the disk of {where.parent} (`df -h {where.parent}`), or lift "
                "the file-size limit (`ulimit -f` says it; `ulimit -f unlimited`, or the "
                "service's LimitFSIZE=), then run the command again",
            ) from None
        if trouble is not None and trouble[0] == "damaged" and _not_a_store(where) is None:
            # a SQLite file that cannot be read (truncated, bytes changed): a damaged
            # store, not another program's file (was "not a ccapki store (DatabaseError)")
            raise StoreError(
                f"the store's database {where} is damaged ({trouble[1]}): nothing was "
                "read or changed",
                _DAMAGED_DB_HINT.format(db=where),
            ) from None
        raise StoreError(
            f"{where} is not a ccapki store ({type(exc).__name__})",
            "point --home at a folder made by `ccapki init`, or restore a backup",
        ) from None
    if version is None:  # a database server's database (a SQLite file is checked above)
        engine.dispose()
        raise StoreError(
            f"the database {engine.url.render_as_string(hide_password=True)} holds no "
            "ccapki schema",
            "run `ccapki init` to create the store in it (or check CCAPKI_DATABASE_URL)",
        )
    if version != SCHEMA_HEAD:
        from ccapki.store.health import known_revisions

        if version not in known_revisions():  # a newer ccapki's: never touched
            engine.dispose()
            raise StoreError(
                f"the store's schema is {version}, newer than this ccapki knows "
                f"({SCHEMA_HEAD}): a newer ccapki made or upgraded it",
                f"use a ccapki that knows schema {version} (the release that made or "
                "upgraded this store; `ccapki --version` says which this one is, "
                "`pip install -U ccapki` gets the newest); nothing was changed",
            )
        if read_only:  # never migrated in place: it cannot be
            engine.dispose()
            raise StoreError(
                f"the store at {home} is read-only ({read_only}), and its schema "
                f"({version}) is older than this ccapki's ({SCHEMA_HEAD}): it must be "
                "upgraded, which writes",
                f"make it writable once (check the permissions of {home} and its "
                f"{DB_NAME}, or remount it read-write) and run `ccapki upgrade`; or "
                "read it with the ccapki that made it",
            )
        if not upgrade:
            engine.dispose()
            raise StoreOutdated(
                f"the store's schema is {version}, older than this ccapki's "
                f"({SCHEMA_HEAD}): nothing was changed",
                upgrade_hint(url, version),  # a database server's: pg_dump it first
                url=url,
                version=version,
            )
        try:
            # the copy is kept under the migration's write lock (it was taken before it:
            # a write committed meanwhile, by the ccapki that made the store, was missing)
            # (a sqlite:/// CCAPKI_DATABASE_URL's file too: it was migrated with no copy)
            sqlite_db = (
                home / DB_NAME
                if url is None
                else (_sqlite_file(url, home) if url.startswith("sqlite:") else None)
            )
            done = _migrate(engine, sqlite_db, wait, on_wait, caller)  # (was 60 s, silently)
        except BaseException:  # e.g. a migration that refuses the store's rows (0006)
            engine.dispose()
            raise
        upgraded = Upgrade(done[0], SCHEMA_HEAD, done[1]) if done else None
    else:
        upgraded = None
    return engine, upgraded


class Store:
    """The ccapki store in ``home``: :meth:`init` once, then :meth:`open` (a context
    manager: leaving the ``with`` block closes it).

    Its repositories share its connection and transaction: :attr:`keys`,
    :attr:`identities` (and their versions), :attr:`cas`, :attr:`trust` (the appliances'
    trust stores), :attr:`csrs`, :attr:`audit` and :attr:`deployments`.

    A store holds any number of deployments by name; the repositories act on one, the
    store's :attr:`deployment` (named at :meth:`open`, by :meth:`use` or inside
    :meth:`scoped`; implied when the store holds one).
    """

    def __init__(
        self,
        home: Path,
        engine: Engine | None,
        *,
        passphrase: PassphraseProvider | None = None,
        clock: Clock | None = None,
        wait: float = DEFAULT_WAIT,
        on_wait: WaitNotice | None = None,
        deployment: str | None = None,
        connect: Callable[[], Engine] | None = None,
        reader: sqlite3.Connection | None = None,
        caller: Caller = "api",
    ) -> None:
        if engine is None and connect is None:
            raise ValueError("a Store needs its engine, or how to make it (connect)")
        self.home = home
        self._engine = engine
        #: makes the engine when it is first needed (a store opened by Store.open on its
        #: SQLite file: a command that only reads never loads SQLAlchemy)
        self._connect = connect
        #: sqlite3's own read-only connection to the store's file (see :meth:`rows`), and
        #: the thread that may use it (the one that opened the store)
        self._reader = reader
        self._reader_thread = threading.get_ident()
        self._deployment = deployment
        self._passphrase = passphrase
        #: how long a write waits for another ccapki's write lock (seconds), and who is told
        self.wait = wait
        self.on_wait = on_wait
        #: who opened it (the command line, the Python API, the service): a busy store's
        #: hint names its way to wait longer (:data:`BUSY_HINTS`)
        self.caller: Caller = caller
        self._keyring: Keyring | None = None
        #: each thread's open transaction (see :attr:`_tx`)
        self._local = threading.local()
        self._clock = clock or _utcnow
        #: who acts, as the audit log records it (the CLI: the operating-system user)
        self.actor: str | None = None
        self._owns_engine = True
        #: why the store cannot be written (a read-only mount or missing permissions), or
        #: None: it opened read-only and every write raises :class:`StoreError`
        self.read_only: str | None = None
        #: what opening it with ``upgrade`` did (None: it was at this version's schema)
        self.upgraded: Upgrade | None = None
        # certificates this Store wrote or read, by PEM text: a certificate is immutable, so
        # reading back what was just written (apply -> trust stores) parses nothing again
        self._parsed: dict[str, x509.Certificate] = {}
        #: the store's ID (:meth:`store_id`), once read or made
        self._store_id: str | None = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (made when first needed)."""
        if self._engine is None:
            with _ENGINE_LOCK:  # forks made at once by a server's threads: one engine
                if self._engine is None:
                    assert self._connect is not None
                    self._engine = self._connect()
        return self._engine

    # the repositories: each module is loaded when first used (see the TYPE_CHECKING
    # imports above: most need SQLAlchemy)

    @functools.cached_property
    def keys(self) -> KeyRepository:
        """Private keys, sealed (never the key material in a record)."""
        from ccapki.store.keys import KeyRepository

        return KeyRepository(self)

    @functools.cached_property
    def identities(self) -> IdentityRepository:
        """Identities and their versions."""
        from ccapki.store.identities import IdentityRepository

        return IdentityRepository(self)

    @functools.cached_property
    def cas(self) -> CARepository:
        """The CAs of the acting deployment."""
        from ccapki.store.cas import CARepository

        return CARepository(self)

    @functools.cached_property
    def trust(self) -> TrustStoreRepository:
        """The appliances' trust stores."""
        from ccapki.store.truststores import TrustStoreRepository

        return TrustStoreRepository(self)

    @functools.cached_property
    def csrs(self) -> CsrRepository:
        """CSRs made, waiting for their certificates."""
        from ccapki.store.csrs import CsrRepository

        return CsrRepository(self)

    @functools.cached_property
    def audit(self) -> AuditLog:
        """The audit log."""
        from ccapki.store.audit import AuditLog

        return AuditLog(self)

    @functools.cached_property
    def deployments(self) -> DeploymentRepository:
        """The deployment files applied, by name."""
        from ccapki.store.audit import DeploymentRepository

        return DeploymentRepository(self)

    @functools.cached_property
    def probes(self) -> ProbeRepository:
        """What the appliances served when probed."""
        from ccapki.store.monitoring import ProbeRepository

        return ProbeRepository(self)

    @functools.cached_property
    def notices(self) -> NoticeRepository:
        """Notices sent (expiry, failures)."""
        from ccapki.store.monitoring import NoticeRepository

        return NoticeRepository(self)

    @functools.cached_property
    def runs(self) -> RunRepository:
        """Runs of the watcher and the scheduled jobs."""
        from ccapki.store.monitoring import RunRepository

        return RunRepository(self)

    @functools.cached_property
    def users(self) -> UserRepository:
        """The service's users."""
        from ccapki.store.service import UserRepository

        return UserRepository(self)

    @functools.cached_property
    def tokens(self) -> TokenRepository:
        """The service's API tokens."""
        from ccapki.store.service import TokenRepository

        return TokenRepository(self)

    @functools.cached_property
    def sessions(self) -> SessionRepository:
        """The service's web sessions."""
        from ccapki.store.service import SessionRepository

        return SessionRepository(self)

    @functools.cached_property
    def logins(self) -> LoginThrottle:
        """The service's login throttle."""
        from ccapki.store.service import LoginThrottle

        return LoginThrottle(self)

    @functools.cached_property
    def jobs(self) -> JobRepository:
        """The service's jobs."""
        from ccapki.store.service import JobRepository

        return JobRepository(self)

    @functools.cached_property
    def token_keys(self) -> TokenKeyRepository:
        """CA keys in PKCS#11 tokens (where they are; never the key or the PIN)."""
        from ccapki.store.tokenkeys import TokenKeyRepository

        return TokenKeyRepository(self)

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def exists(home: Path, url: str | None = None) -> bool:
        """Whether a store can be opened: a database URL is given, or ``home`` holds one."""
        return store_exists(home, url)

    @classmethod
    def init(
        cls,
        home: Path,
        *,
        url: str | None = None,
        passphrase: str | None = None,
        key_file: bool = False,
        clock: Clock | None = None,
    ) -> Store:
        """Create a new store and return it open. With ``key_file`` the data key lives in
        ``home/data.key``, else it is wrapped by ``passphrase``.

        Raises :class:`StoreError` if a store exists already (never overwritten) or the
        database cannot be reached, :class:`PasswordError` for a missing or short
        passphrase.
        """
        _refuse_odd_place(home, url)  # as the command line does: never hung, never in memory
        given = url
        url = url or sqlite_url(home)
        # a sqlite:/// URL's file is the store's database; else the home's (its path as it
        # is: never read back out of a URL)
        db = _sqlite_file(given, home) if given else home / DB_NAME
        why = _not_a_store(db)
        if why:  # never overwritten, and never called a store
            raise StoreError(
                f"{db} is not a ccapki store ({why}); ccapki never overwrites a file",
                _move_away(db),
            )
        if (home / KEY_FILE).exists() and not db.exists() and url.startswith("sqlite:"):
            raise StoreError(
                f"a store already exists at {home}: its data.key is there, but not its {DB_NAME}",
                _KEY_WITHOUT_DB,
            )
        existing = db.exists() or (home / KEY_FILE).exists()
        if not existing and not url.startswith("sqlite:"):
            probe = _engine(url)
            try:
                existing = _schema_version(probe) is not None
            except Exception as exc:  # the server cannot be reached, bad credentials...
                raise _unreachable(probe, exc) from None
            finally:
                probe.dispose()
        if existing:
            raise StoreError(
                f"a store already exists at {home}"
                + ("" if url.startswith("sqlite:") else " (or in CCAPKI_DATABASE_URL)")
                + (f" (its database: {db})" if db != home / DB_NAME else ""),
                "use it as it is, or pass another --home (ccapki never overwrites a store)",
            )
        if not key_file and not passphrase:
            raise PasswordError(
                "no passphrase to protect the store's keys",
                "set CCAPKI_PASSPHRASE, answer the prompt, or use `ccapki init --key-file`",
            )
        if not key_file and passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
            raise PasswordError(
                f"the passphrase is too short ({len(passphrase)} characters) to protect the "
                "store's keys",
                f"use at least {MIN_PASSPHRASE} characters (a few words is best), or "
                "`ccapki init --key-file`",
            )
        if db != home / DB_NAME and not db.parent.is_dir():  # a URL's; before any file
            raise StoreError(
                f"cannot make the store's database {db}: its folder {db.parent} does not "
                "exist; nothing was written",
                f"make the folder first (`mkdir -p {db.parent}`), or check CCAPKI_DATABASE_URL",
            )
        from ccapki.fsutil import missing_folders
        from ccapki.store.home import make_home

        made_dirs = missing_folders(home)  # what make_home makes: removed on a failure
        make_home(home)
        try:
            return cls._create(home, db, url, given, passphrase, key_file, clock)
        except BaseException as exc:
            for folder in made_dirs:  # only folders left empty: never another's file
                with contextlib.suppress(OSError):
                    folder.rmdir()
            if isinstance(exc, Exception) and not isinstance(exc, CcapkiError):
                trouble = _write_trouble(exc)
                if trouble is not None:
                    raise StoreError(
                        f"cannot create the store in {home}: its database could not be "
                        f"written ({trouble}): the disk is full, a file-size limit was "
                        "reached or the disk is failing; nothing was created",
                        f"make room on the file system of {home} (`df -h "
                        f"{made_dirs[-1].parent if made_dirs else home}`; `ulimit -f` for a "
                        "file-size limit), then run `ccapki init` again",
                    ) from None
            if isinstance(exc, OSError) and not isinstance(exc, InterruptedError):
                import errno

                where = made_dirs[-1].parent if made_dirs else home
                full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                raise StoreError(
                    f"cannot make a store in {home}: {exc.strerror or exc}; nothing was written",
                    f"make room on the file system of {home} (`df -h {where}`), then run "
                    "`ccapki init` again"
                    if full
                    # a folder that takes no files though it looks writable (/proc, /sys)
                    else "pass --home (or CCAPKI_HOME) a folder of an ordinary file system "
                    "this user can write",
                ) from None
            raise

    @classmethod
    def _create(
        cls,
        home: Path,
        db: Path,
        url: str,
        given: str | None,
        passphrase: str | None,
        key_file: bool,
        clock: Clock | None,
    ) -> Store:
        """The files of a new store in the folder ``home`` (made already): what
        :meth:`init` does once it checked everything; a failure removes its files."""
        unwritable = read_only_reason(home) if key_file or url.startswith("sqlite:") else None
        if unwritable is not None:  # before any file: an OSError here would be exit 70
            raise StoreError(
                f"cannot make a store in {home}: {unwritable}; nothing was written",
                "pass --home (or CCAPKI_HOME) a folder this user can write, or fix the "
                f"folder's permissions or its mount (`findmnt -T {home}`)",
            )
        from ccapki.store.keyring import Keyring, WrappedKey

        data_key = Keyring.new_data_key()
        if key_file:
            record = WrappedKey("keyfile")
        else:
            assert passphrase is not None
            record = Keyring.wrap_with_passphrase(data_key, passphrase)
        # the engine first (loading the driver takes a while): from the first file written
        # on, any failure or interruption removes what this call made, never a half store
        from sqlalchemy import insert

        from ccapki.store import schema as t

        engine = _engine(given) if given else _file_engine(db)
        made: list[str | Path] = []
        try:
            if key_file:  # never over another init's data.key (one that raced this one)
                _new_key_file(home / KEY_FILE, data_key.hex().encode() + b"\n")
                made.append(KEY_FILE)
            if url.startswith("sqlite:"):
                # the database holds the sealed keys and the wrapped data key: 0600 from the
                # start (SQLite gives its WAL files the database's mode)
                os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                made += [db, db.with_name(f"{db.name}-wal"), db.with_name(f"{db.name}-shm")]
            _create_schema(engine)
            with engine.begin() as conn:
                now = (clock or _utcnow)()
                conn.execute(
                    insert(t.meta),
                    [
                        {"key": "keyring", "value": record.to_json()},
                        {"key": "created_at", "value": now.isoformat()},
                        {"key": STORE_ID_KEY, "value": str(uuid.uuid4())},
                    ],
                )
                conn.execute(
                    insert(t.audit),
                    {
                        "at": now,
                        "action": "init",
                        "subject": str(home),
                        "detail": json.dumps({"mode": record.mode}),
                    },
                )
        except BaseException as exc:
            engine.dispose()
            for name in made:
                with contextlib.suppress(FileNotFoundError):
                    (home / name).unlink()
            from sqlalchemy.exc import IntegrityError

            # another init made the data.key, the database or (on a server) the store's
            # keyring after this one found none: it is that one's store, left whole
            if isinstance(exc, FileExistsError | IntegrityError):
                raise StoreError(
                    f"a store already exists at {home}"
                    + ("" if url.startswith("sqlite:") else " (or in CCAPKI_DATABASE_URL)")
                    + ": another `ccapki init` made it at the same time; nothing of this "
                    "one was kept",
                    "use it as it is (the other init's passphrase or data.key opens it), or "
                    "pass another --home (ccapki never overwrites a store)",
                ) from None
            raise
        store = cls(home, engine, passphrase=lambda: passphrase or "", clock=clock)
        store._keyring = Keyring(data_key)
        return store

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        url: str | None = None,
        passphrase: PassphraseProvider | None = None,
        clock: Clock | None = None,
        wait: float = DEFAULT_WAIT,
        on_wait: WaitNotice | None = None,
        deployment: str | None = None,
        upgrade: bool = False,
        caller: Caller = "api",
    ) -> Store:
        """Open an existing store (the database at ``url``, else the SQLite file in
        ``home``). A store of an older schema is opened only with ``upgrade`` (what
        ``ccapki upgrade`` does): it is migrated to this version's schema, a SQLite file
        copied first as it was (see :attr:`upgraded`); otherwise it is refused, unchanged:
        no command writes to a store behind its administrator's back, not even a report.

        ``deployment`` names the deployment the repositories act on (see
        :attr:`deployment`; implied when the store holds one).

        ``passphrase`` is asked only when a key is first unsealed (or at :meth:`unlock`).
        ``wait``: how long a write waits for another ccapki writing to the store (seconds),
        ``on_wait`` is told once when it must wait (see :meth:`transaction`). ``caller``:
        who opens it, ``"api"`` (a script), ``"cli"`` or ``"service"``: the hint of a
        :class:`StoreBusy` names that caller's way to wait longer (:data:`BUSY_HINTS`).
        Raises :class:`StoreError` when there is no store, it is not a ccapki store, its
        schema is newer than this ccapki's (or older, without ``upgrade``), or the database
        cannot be reached.
        """
        _refuse_odd_place(home, url)  # as the command line does: never hung, never in memory
        if not cls.exists(home, url):
            if (home / KEY_FILE).exists():
                raise StoreError(
                    f"no {DB_NAME} in {home}, only the data.key of a store", _KEY_WITHOUT_DB
                )
            raise StoreError(
                f"no ccapki store at {home}",
                "run `ccapki init` first (or point --home / CCAPKI_HOME at your store)",
            )
        try:
            why = None if url else _not_a_store(home / DB_NAME)
        except StoreError:  # a read-only store whose log cannot be read: said below
            why = None
        if why:
            raise StoreError(
                f"{home / DB_NAME} is not a ccapki store ({why})", _move_away(home / DB_NAME)
            )
        read_only = None if url else read_only_reason(home)
        reader = _current_reader(home / DB_NAME, read_only) if url is None and not upgrade else None
        engine: Engine | None = None
        connect: Callable[[], Engine] | None = None
        upgraded: Upgrade | None = None
        if reader is not None:  # this ccapki's schema: the engine is made when needed
            connect = functools.partial(
                _read_only_engine if read_only else _file_engine, home / DB_NAME
            )
        else:
            engine, upgraded = _checked_engine(home, url, read_only, upgrade, wait, on_wait, caller)
        store = cls(
            home,
            engine,
            passphrase=passphrase,
            clock=clock,
            wait=wait,
            on_wait=on_wait,
            deployment=deployment,
            connect=connect,
            reader=reader,
            caller=caller,
        )
        store.read_only = read_only
        store.upgraded = upgraded
        return store

    def schema_moved(self) -> str | None:
        """The database's schema revision when it is no longer this ccapki's (another
        ccapki upgraded the store under a long-running process: ``serve``, ``watch``, the
        lab), else None. Reads ``alembic_version`` now (a process checks it at open only)."""
        rows = self.rows("SELECT version_num FROM alembic_version")
        found = str(rows[0][0]) if rows else None
        return None if found == SCHEMA_HEAD else (found or "none")

    @property
    def _tx(self) -> Connection | None:
        """The open transaction of the calling thread, or None. One per thread: threads
        sharing a Store each take the store's write lock for their own transactions, and
        one thread's reads and writes never join another's transaction (a walkthrough:
        three threads applying through one Store made three internal CAs, and one saw
        "This Connection is closed")."""
        return getattr(self._local, "tx", None)

    @_tx.setter
    def _tx(self, conn: Connection | None) -> None:
        self._local.tx = conn

    def fork(self, *, deployment: str | None = None, actor: str | None = None) -> Store:
        """Another :class:`Store` on the same database, for another thread or request:
        it shares the engine (its connection pool), the clock and the keyring once
        unlocked (so the passphrase is not asked, nor scrypt run, again), and has its own
        transaction and deployment. Closing a fork does not close the engine."""
        other = type(self)(
            self.home,
            self.engine,
            passphrase=self._passphrase,
            clock=self._clock,
            wait=self.wait,
            on_wait=self.on_wait,
            deployment=deployment,
            caller=self.caller,
        )
        other._keyring = self._keyring
        other.actor = actor if actor is not None else self.actor
        other._owns_engine = False
        other.read_only = self.read_only
        return other

    def close(self) -> None:
        self._drop_reader()
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def rows(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """The rows of one read query, in SQL that SQLite and PostgreSQL both speak, with
        ``:name`` parameters; a list or tuple value is a list of values (``fingerprint IN
        :fps``; at most a few hundred).

        Outside a transaction, on a store :meth:`open` found at this ccapki's schema in its
        SQLite file, the query runs on sqlite3's own read-only connection (``PRAGMA
        query_only``), with no SQLAlchemy loaded: the reads of `keys list`, `trust check`,
        `inspect`, `plan` (issue 9: a command on the store within 3.5x the import of
        cryptography.x509). Inside a transaction or snapshot, on another thread, and on a
        database server, on the store's connection. Datetime columns come back as the
        driver gives them: read them with :func:`~ccapki.store.records.stored_time`.
        """
        args = dict(params or {})
        for name, value in list(args.items()):
            if isinstance(value, list | tuple):  # IN :name -> IN (:name_0, :name_1, ...)
                del args[name]
                names = [f"{name}_{i}" for i in range(len(value))]
                args.update(zip(names, value, strict=True))
                listed = ", ".join(f":{n}" for n in names) if names else "NULL"
                sql = re.sub(rf":{name}\b", f"({listed})", sql)
        reader = self._reader
        if reader is not None and self._tx is None and threading.get_ident() == self._reader_thread:
            try:
                return reader.execute(sql, args).fetchall()
            except sqlite3.Error:  # locked too long, damaged...: said as the engine says it
                self._drop_reader()
        with self.connection() as c:
            if c.dialect.name == "sqlite":
                # the driver takes :name parameters itself, as the reader above does (text()
                # makes an object per parameter: a bulk apply's batch names hundreds)
                return [tuple(r) for r in c.exec_driver_sql(sql, args)]
            from sqlalchemy import text

            return [tuple(r) for r in c.execute(text(sql), args)]

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def now(self) -> dt.datetime:
        """The store's clock (what it stamps rows with)."""
        return self._clock()

    @property
    def keyring(self) -> Keyring:
        """The unwrapped data key (asks for the passphrase on first use)."""
        if self._keyring is None:
            from ccapki.store.keyring import Keyring, WrappedKey

            try:
                record = WrappedKey.from_json(self._meta("keyring"))
            except (ValueError, KeyError, TypeError, AttributeError):
                # json / base64 / int errors are ValueErrors; a field missing or of the
                # wrong type the others: bytes of the database changed under the row
                raise StoreError(
                    "the store's keyring record (the wrapped data key, in its meta table) "
                    "is damaged: no sealed key can be opened; nothing was changed",
                    _KEYRING_DAMAGED_HINT,
                ) from None
            if record.mode == "keyfile":
                path = self.home / KEY_FILE
                try:
                    self._keyring = Keyring(bytes.fromhex(path.read_text().strip()))
                except FileNotFoundError:
                    raise StoreError(
                        f"the store's key file {path} is missing",
                        _KEY_FILE_HINT,
                    ) from None
                except ValueError:
                    raise StoreError(
                        f"the store's key file {path} is damaged",
                        _KEY_FILE_HINT,
                    ) from None
            else:
                if self._passphrase is None:
                    raise PasswordError(
                        "this store is locked by a passphrase",
                        "set CCAPKI_PASSPHRASE or run the command in a terminal to be asked",
                    )
                self._keyring = Keyring.unwrap_with_passphrase(record, self._passphrase())
        return self._keyring

    def unlock(self) -> None:
        """Check the passphrase now (before any change is made)."""
        _ = self.keyring

    # ------------------------------------------------------------------ deployments

    @property
    def deployment(self) -> str:
        """The deployment the repositories act on: the one named (:meth:`open`,
        :meth:`use`, :meth:`scoped`), else the store's only one (``default`` while it holds
        none).

        Raises :class:`InputError` when the store holds several and none was named.
        """
        if self._deployment is None:
            names = self.deployments.names()
            if len(names) > 1:
                how = {  # in the caller's words
                    "cli": "name one with --deployment NAME or CCAPKI_DEPLOYMENT=NAME; "
                    "`ccapki deployments` lists them",
                    "service": "name one in the request (its deployment), or start the "
                    "service with --deployment NAME for requests that name none",
                }.get(
                    self.caller,
                    "name one: open_store(..., deployment=NAME), or store.use(NAME) "
                    "(store.deployments.names() lists them)",
                )
                raise InputError(
                    f"this store holds {len(names)} deployments ({', '.join(names)}) "
                    "and none was named",
                    how,
                )
            if not names:
                return DEFAULT_DEPLOYMENT
            self._deployment = names[0]
        return self._deployment

    @property
    def acting_on(self) -> str | None:
        """The deployment named or settled on so far, without asking the database (None:
        none yet: the audit log then records a store-wide action)."""
        return self._deployment

    def use(self, name: str | None, *, new: bool = False) -> None:
        """Act on deployment ``name`` from now on (None: the implied one again).

        Raises :class:`NotFoundError` when the store holds no deployment of that name,
        unless ``new`` (an ``apply`` that creates it).
        """
        if name is not None and not new:
            names = self.deployments.names()
            if name not in names and not (not names and name == DEFAULT_DEPLOYMENT):
                raise NotFoundError(
                    f"this store holds no deployment {name!r}"
                    + (f" (it holds: {', '.join(names)})" if names else " (it holds none yet)"),
                    "name one it holds (`ccapki deployments` lists them), or apply the "
                    "deployment's file first (`ccapki apply FILE`)",
                )
        self._deployment = name

    @contextlib.contextmanager
    def scoped(self, name: str) -> Iterator[Store]:
        """Act on deployment ``name`` inside the block (it may be new), then on the one
        acted on before."""
        before = self._deployment
        self._deployment = name
        try:
            yield self
        finally:
            self._deployment = before

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: all writes inside land together or not at all (nested
        blocks join the outer), under the store's write lock.

        One writer at a time, whatever the process: SQLite's ``BEGIN IMMEDIATE``, on
        PostgreSQL an advisory lock held to the end of the transaction. What a writer reads
        inside is what the last writer committed, so a decision made inside holds until it
        commits: a command decides what to write inside its transaction, never before.
        Waits up to :attr:`wait` seconds for another writer (telling :attr:`on_wait` once
        when that takes a while), then raises :class:`StoreBusy` (nothing written).
        """
        if self._tx is not None:
            yield self._tx
            return
        if self.read_only:
            raise read_only_error(self.home, self.read_only)
        if self._store_id is None:  # an older store gets its ID at its first write
            self.ensure_store_id()
        with self.engine.connect() as conn:
            self._tx = conn
            try:
                with self._write_locked(conn):
                    yield conn
            finally:
                self._tx = None

    def change_mark(self) -> tuple[object, int] | None:
        """Inside a transaction: a mark that stays the same for as long as no other
        connection commits to the store (this one's own commits leave it as it is), for a
        writer that wants to know whether what it read is still all there is. On SQLite,
        the connection and its ``PRAGMA data_version``; None where there is no such mark
        (PostgreSQL: the caller reads again)."""
        conn = self._tx
        if conn is None:
            raise RuntimeError("change_mark() is read inside a transaction")
        if conn.dialect.name != "sqlite":
            return None
        version = conn.exec_driver_sql("PRAGMA data_version").scalar_one()
        # the connection itself (not its id: a closed one's address may be reused)
        return conn.connection.dbapi_connection, int(version)

    #: The name the write lock goes by in the docs; the same as :meth:`transaction`.
    write_transaction = transaction

    @contextlib.contextmanager
    def _write_locked(self, conn: Connection) -> Iterator[None]:
        """Begin ``conn``'s transaction holding the store's write lock; commit at the end."""
        with _write_lock(conn, self.wait, self.on_wait, self.caller):
            yield

    def rollback(self) -> None:
        """Undo everything in the open transaction (what-if runs); the block then ends."""
        if self._tx is None:
            raise RuntimeError("no transaction is open")
        self._tx.rollback()

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[Connection]:
        """One read transaction for every read inside the block: they all see the store as
        it was at the first of them, whatever other processes commit meanwhile (SQLite's
        WAL snapshot; PostgreSQL's REPEATABLE READ). For readers that join many queries
        (``ccapki doctor``); nothing may be written inside. Inside a transaction already,
        that one is used."""
        if self._tx is not None:
            yield self._tx
            return
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            self._tx = conn
            try:
                with conn.begin():
                    yield conn
            finally:
                self._tx = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """The open transaction's connection, else a short transaction of its own (for
        the repositories)."""
        if self._tx is not None:
            yield self._tx
        elif self.read_only:
            try:
                with self.engine.begin() as conn:
                    yield conn
            except Exception as exc:  # a write: PRAGMA query_only refuses it
                from sqlalchemy.exc import DBAPIError

                if not isinstance(exc, DBAPIError):
                    raise
                if isinstance(exc.orig, sqlite3.Error) and _read_only_refusal(exc.orig):
                    raise read_only_error(self.home, self.read_only) from None
                raise
        else:
            with self.engine.begin() as conn:
                yield conn

    # ------------------------------------------------------------------ shared helpers

    def parsed(self, pem: str) -> x509.Certificate:
        """The certificate of a PEM column, parsed once per Store."""
        cert = self._parsed.get(pem)
        if cert is None:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(pem.encode())
            self.remember(pem, cert)
        return cert

    def remember(self, pem: str, cert: x509.Certificate) -> None:
        """Keep ``cert`` (whose PEM is ``pem``) so reading it back parses nothing."""
        if len(self._parsed) < _PARSED_MAX:
            self._parsed[pem] = cert

    def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        from sqlalchemy import func, select

        from ccapki.store import schema as t

        tbl = t.metadata.tables[table]
        with self.connection() as c:
            return int(c.execute(select(func.count()).select_from(tbl)).scalar() or 0)

    def store_id(self) -> str | None:
        """The store's ID: a random UUID kept in its ``meta`` table, made at ``init`` (an
        older store's at its first write or backup, :meth:`ensure_store_id`); backups carry
        it, so a restore tells another store's backup. Returns None when it has none yet."""
        rows = self.rows('SELECT value FROM meta WHERE "key" = :key', {"key": STORE_ID_KEY})
        if rows and rows[0][0]:
            self._store_id = str(rows[0][0])  # it has one: no write needs to make it
            return self._store_id
        return None

    def ensure_store_id(self) -> str:
        """The store's ID (:meth:`store_id`), made now (a random UUID, in a write
        transaction of its own) when the store has none. Raises :class:`StoreError` for a
        read-only store and :class:`StoreBusy` when another writer holds the store."""
        found = self.store_id()
        if found is not None:
            return found
        if self.read_only:
            raise read_only_error(self.home, self.read_only)
        if self._tx is not None:  # its own transaction: not inside another one
            raise RuntimeError("ensure_store_id() inside a transaction")
        from sqlalchemy import insert, select

        from ccapki.store import schema as t

        with self.engine.connect() as conn, self._write_locked(conn):
            held = conn.execute(
                select(t.meta.c.value).where(t.meta.c.key == STORE_ID_KEY)
            ).scalar_one_or_none()
            if held is None:
                held = str(uuid.uuid4())
                conn.execute(insert(t.meta), {"key": STORE_ID_KEY, "value": held})
        self._store_id = str(held)
        return self._store_id

    def _meta(self, key: str) -> str:
        rows = self.rows('SELECT value FROM meta WHERE "key" = :key', {"key": key})
        value = rows[0][0] if rows else None
        if value is None:
            raise StoreError(f"the store has no {key!r} record", "restore the store from a backup")
        return str(value)
