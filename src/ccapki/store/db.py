"""The store: one database (SQLite in the home folder by default) behind a small API.

Nothing is overwritten: every certificate is a new version of its identity, trust-store
removals are marked, not deleted, and every change and every private-key export is written
to the audit log. Private keys are sealed by :class:`ccapki.store.keyring.Keyring`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update

from ccapki.errors import NotFoundError, PasswordError, StoreError
from ccapki.pki.certs import fingerprint
from ccapki.pki.issue import Issuer
from ccapki.pki.keys import private_key_der, public_key_fingerprint
from ccapki.store import schema as t
from ccapki.store.keyring import Keyring, WrappedKey

__all__ = [
    "PassphraseProvider",
    "Store",
    "StoredCA",
    "StoredIdentity",
    "certificate_facts",
    "gc_paused",
    "loose_modes",
    "resolve_home",
]

DB_NAME = "ccapki.db"
_PARSED_MAX = 200_000  # parsed certificates a Store keeps in memory at most
KEY_FILE = "data.key"

PassphraseProvider = Callable[[], str]
#: The shortest passphrase ``init`` accepts (existing stores open with whatever they have).
MIN_PASSPHRASE = 8


def _make_home(home: Path) -> None:
    """Create the store folder 0700 (a folder that exists keeps its mode: see
    :func:`loose_modes`)."""
    if home.exists() and not home.is_dir():
        raise StoreError(
            f"{home} is a file, not a folder",
            "pass --home (or CCAPKI_HOME) a folder path; ccapki creates the folder",
        )
    if home.is_dir():
        return
    try:
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)
    except OSError as exc:
        raise StoreError(
            f"cannot create the store folder {home} ({exc.strerror or type(exc).__name__})",
            "pass --home (or CCAPKI_HOME) a folder path you can create, below a folder",
        ) from None


def loose_modes(home: Path) -> str | None:
    """A warning (as ssh gives) when other users can read or write the store folder, its
    SQLite database or ``data.key``, with the ``chmod`` that fixes it; else ``None``."""
    checks = [(home, 0o700)]
    if Store.url_for(home).startswith("sqlite:"):
        checks.append((home / DB_NAME, 0o600))
    checks.append((home / KEY_FILE, 0o600))
    loose: list[tuple[Path, int, int]] = []
    for path, wanted in checks:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            loose.append((path, mode, wanted))
    if not loose:
        return None
    what = ", ".join(f"{p} ({m:04o})" for p, m, _ in loose)
    fix = " && ".join(f"chmod {w:o} {p}" for p, _, w in loose)
    return f"other users can read or write the store's {what}; run {fix}"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``--home``, else ``$CCAPKI_HOME``, else ``$XDG_DATA_HOME/ccapki`` (~/.local/share)."""
    if home:
        return Path(home).expanduser()
    env = os.environ.get("CCAPKI_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ccapki"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step (restored afterwards).

    Issuing in bulk allocates many long-lived objects and no reference cycles; without
    the pause the collector rescans the growing heap over and over (~15% of the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _load_pems(text: str) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(text.encode())) if text.strip() else ()


@dataclass(frozen=True)
class StoredIdentity:
    """One version of an identity's certificate as the store holds it."""

    name: str
    version: int
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # intermediates first, then the root (if any)
    source: str
    spki: str
    fingerprint: str
    created_at: dt.datetime

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class StoredCA:
    name: str
    kind: str
    certificate: x509.Certificate
    fingerprint: str
    spki: str


@dataclass(frozen=True)
class IdentityRecord:
    """One freshly issued identity to persist (see :meth:`Store.add_issued`)."""

    identity: str
    key: PrivateKeyTypes | None  # None for a third-party certificate matched to a stored key
    key_type: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: str
    #: the key as unencrypted PKCS#8 DER, when it was made elsewhere (a worker process);
    #: sealed as it is, never written anywhere else
    key_der: bytes | None = None
    #: :func:`certificate_facts` of ``certificate``, when already computed (by a worker)
    facts: dict[str, Any] | None = None


def certificate_facts(cert: x509.Certificate) -> dict[str, Any]:
    """What the certificates table stores about ``cert`` besides identity and version."""
    return {
        "fingerprint": fingerprint(cert),
        "spki": public_key_fingerprint(cert.public_key()),
        "serial": format(cert.serial_number, "x"),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "pem": _pem(cert),
    }


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _schema_version(engine: Engine) -> str | None:
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


class Store:
    """The ccapki store in ``home``. Use :meth:`init` once, then :meth:`open`."""

    def __init__(
        self,
        home: Path,
        engine: Engine,
        passphrase: PassphraseProvider | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.home = home
        self.engine = engine
        self._passphrase = passphrase
        self._keyring: Keyring | None = None
        self._tx: Connection | None = None
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # certificates this Store wrote or read, by PEM text: a certificate is immutable, so
        # reading back what was just written (apply -> trust stores) parses nothing again
        self._parsed: dict[str, x509.Certificate] = {}

    def _cert(self, pem: str) -> x509.Certificate:
        """The certificate of a PEM column, parsed once per Store."""
        cert = self._parsed.get(pem)
        if cert is None:
            cert = x509.load_pem_x509_certificate(pem.encode())
            if len(self._parsed) < _PARSED_MAX:
                self._parsed[pem] = cert
        return cert

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def url_for(home: Path) -> str:
        return os.environ.get("CCAPKI_DATABASE_URL") or f"sqlite:///{home / DB_NAME}"

    @classmethod
    def exists(cls, home: Path) -> bool:
        return (home / DB_NAME).exists() or bool(os.environ.get("CCAPKI_DATABASE_URL"))

    @classmethod
    def init(
        cls,
        home: Path,
        *,
        passphrase: str | None = None,
        key_file: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> Store:
        """Create a new store. With ``key_file`` the data key lives in ``home/data.key``."""
        url = cls.url_for(home)
        existing = (home / DB_NAME).exists() or (home / KEY_FILE).exists()
        if not existing and not url.startswith("sqlite:"):
            probe = _engine(url)
            try:
                existing = _schema_version(probe) is not None
            except Exception as exc:  # the server cannot be reached, bad credentials...
                raise StoreError(
                    f"cannot reach the database {probe.url.render_as_string(hide_password=True)}"
                    f" ({type(exc).__name__})",
                    "check CCAPKI_DATABASE_URL and that the database server is running",
                ) from None
            finally:
                probe.dispose()
        if existing:
            raise StoreError(
                f"a store already exists at {home}"
                + ("" if url.startswith("sqlite:") else " (or in CCAPKI_DATABASE_URL)"),
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
        _make_home(home)
        data_key = Keyring.new_data_key()
        if key_file:
            from ccapki.fsutil import atomic_write

            record = WrappedKey("keyfile")
            atomic_write(home / KEY_FILE, data_key.hex().encode() + b"\n", private=True)
        else:
            assert passphrase is not None
            record = Keyring.wrap_with_passphrase(data_key, passphrase)
        if url.startswith("sqlite:"):
            # the database holds the sealed keys and the wrapped data key: 0600 from the
            # start (SQLite gives its WAL files the database's mode)
            os.close(os.open(home / DB_NAME, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        engine = _engine(url)
        try:
            _migrate(engine)
            with engine.begin() as conn:
                now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
                conn.execute(
                    insert(t.meta),
                    [
                        {"key": "keyring", "value": record.to_json()},
                        {"key": "created_at", "value": now.isoformat()},
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
        except BaseException:
            engine.dispose()
            for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", KEY_FILE):
                with contextlib.suppress(FileNotFoundError):
                    (home / name).unlink()
            raise
        store = cls(home, engine, (lambda: passphrase or ""), clock)
        store._keyring = Keyring(data_key)
        return store

    @classmethod
    def open(
        cls,
        home: Path,
        passphrase: PassphraseProvider | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> Store:
        """Open an existing store; migrate it to this version's schema if it is older."""
        if not cls.exists(home):
            raise StoreError(
                f"no ccapki store at {home}",
                "run `ccapki init` first (or point --home / CCAPKI_HOME at your store)",
            )
        engine = _engine(cls.url_for(home))
        try:
            version = _schema_version(engine)
        except Exception as exc:  # sqlite3.DatabaseError: file is not a database
            if not str(engine.url).startswith("sqlite"):
                raise StoreError(
                    f"cannot reach the database "
                    f"{engine.url.render_as_string(hide_password=True)} ({type(exc).__name__})",
                    "check CCAPKI_DATABASE_URL and that the database server is running",
                ) from None
            raise StoreError(
                f"{home / DB_NAME} is not a ccapki store ({type(exc).__name__})",
                "point --home at a folder made by `ccapki init`, or restore a backup",
            ) from None
        if version is None:
            raise StoreError(
                f"{home} holds no ccapki schema", "run `ccapki init` in an empty folder"
            )
        if version != t.SCHEMA_HEAD:
            _migrate(engine)
        return cls(home, engine, passphrase, clock)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> dt.datetime:
        return self._clock()

    @property
    def keyring(self) -> Keyring:
        """The unlocked keyring; asks for the passphrase once, when first needed."""
        if self._keyring is None:
            record = WrappedKey.from_json(self._meta("keyring"))
            if record.mode == "keyfile":
                path = self.home / KEY_FILE
                try:
                    self._keyring = Keyring(bytes.fromhex(path.read_text().strip()))
                except FileNotFoundError:
                    raise StoreError(
                        f"the store's key file {path} is missing",
                        "restore data.key from your backup into the store folder",
                    ) from None
                except ValueError:
                    raise StoreError(
                        f"the store's key file {path} is damaged",
                        "restore data.key from your backup into the store folder",
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

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All writes inside land together or not at all."""
        if self._tx is not None:
            yield self._tx
            return
        with self.engine.begin() as conn:
            self._tx = conn
            try:
                yield conn
            finally:
                self._tx = None

    def transaction_rollback(self) -> None:
        """Undo everything in the open transaction (what-if runs); the block then ends."""
        if self._tx is None:
            raise RuntimeError("no transaction is open")
        self._tx.rollback()

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Connection]:
        if self._tx is not None:
            yield self._tx
        else:
            with self.engine.begin() as conn:
                yield conn

    def _meta(self, key: str) -> str:
        with self._conn() as c:
            value = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        if value is None:
            raise StoreError(f"the store has no {key!r} record", "restore the store from a backup")
        return str(value)

    def audit(self, action: str, subject: str, **detail: object) -> None:
        with self._conn() as c:
            c.execute(
                insert(t.audit),
                {
                    "at": self.now(),
                    "action": action,
                    "subject": subject,
                    "detail": json.dumps(detail, default=str, sort_keys=True),
                },
            )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute(select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)).all()
        return [
            {"at": r.at, "action": r.action, "subject": r.subject, "detail": json.loads(r.detail)}
            for r in rows
        ]

    # ------------------------------------------------------------------ deployment

    def record_deployment(self, name: str, text: str, path: str | None) -> bool:
        """Keep a new version of the deployment file if it changed. True if it did."""
        with self._conn() as c:
            last = c.execute(
                select(t.deployments.c.source_text).order_by(t.deployments.c.id.desc()).limit(1)
            ).scalar()
            if last == text:
                return False
            c.execute(
                insert(t.deployments),
                {"name": name, "source_text": text, "path": path, "loaded_at": self.now()},
            )
        self.audit("deployment", name, path=path)
        return True

    def deployment_text(self) -> tuple[str, str | None] | None:
        """The latest deployment file kept (text, path), if any."""
        with self._conn() as c:
            row = c.execute(
                select(t.deployments.c.source_text, t.deployments.c.path)
                .order_by(t.deployments.c.id.desc())
                .limit(1)
            ).first()
        return (row[0], row[1]) if row else None

    # ------------------------------------------------------------------ keys

    def _key_row(
        self,
        key: PrivateKeyTypes | bytes,
        key_type: str,
        identity: str | None,
        state: str,
        *,
        spki: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        spki = spki or public_key_fingerprint(key)
        der = key if isinstance(key, bytes) else private_key_der(key)
        nonce, sealed = self.keyring.seal(der, spki)
        return {
            "fingerprint": spki,
            "key_type": key_type,
            "identity": identity,
            "state": state,
            "nonce": nonce,
            "sealed": sealed,
            "created_at": now or self.now(),
        }

    def add_key(self, key: PrivateKeyTypes, key_type: str, identity: str | None, state: str) -> str:
        """Seal and keep a private key; returns its public-key fingerprint."""
        row = self._key_row(key, key_type, identity, state)
        with self._conn() as c:
            exists = c.execute(
                select(t.keys.c.id).where(t.keys.c.fingerprint == row["fingerprint"])
            ).first()
            if exists is None:
                c.execute(insert(t.keys), row)
        return str(row["fingerprint"])

    def has_key(self, spki: str) -> bool:
        with self._conn() as c:
            return (
                c.execute(select(t.keys.c.id).where(t.keys.c.fingerprint == spki)).first()
                is not None
            )

    def private_key(self, spki: str) -> CertificateIssuerPrivateKeyTypes:
        """Unseal a private key by its public-key fingerprint (in memory only)."""
        with self._conn() as c:
            row = c.execute(
                select(t.keys.c.nonce, t.keys.c.sealed).where(t.keys.c.fingerprint == spki)
            ).first()
        if row is None:
            raise NotFoundError(
                f"no private key with public-key fingerprint {spki[:16]}... in the store",
                "import the key saved when the CSR was made (ccapki import --key FILE)",
            )
        der = self.keyring.open(row.nonce, row.sealed, spki)
        key = serialization.load_der_private_key(der, password=None)
        return key  # type: ignore[return-value]

    def key_records(
        self, *, identity: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Key records (never the key material): fingerprint, type, identity, state, created."""
        q = select(
            t.keys.c.fingerprint,
            t.keys.c.key_type,
            t.keys.c.identity,
            t.keys.c.state,
            t.keys.c.created_at,
        ).order_by(t.keys.c.id)
        if identity is not None:
            q = q.where(t.keys.c.identity == identity)
        if state is not None:
            q = q.where(t.keys.c.state == state)
        with self._conn() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def set_key_state(self, spki: str | Sequence[str], state: str) -> None:
        """Set the state of one key, or of many in one statement."""
        fps = [spki] if isinstance(spki, str) else list(spki)
        with self._conn() as c:
            for i in range(0, len(fps), 500):
                c.execute(
                    update(t.keys)
                    .where(t.keys.c.fingerprint.in_(fps[i : i + 500]))
                    .values(state=state)
                )

    # ------------------------------------------------------------------ CAs

    def add_ca(
        self, name: str, kind: str, cert: x509.Certificate, key: PrivateKeyTypes | None
    ) -> StoredCA:
        spki = public_key_fingerprint(cert.public_key())
        with self.transaction() as c:
            if key is not None:
                self.add_key(key, "ca", None, "ca")
            c.execute(
                insert(t.cas),
                {
                    "name": name,
                    "kind": kind,
                    "fingerprint": fingerprint(cert),
                    "spki": spki,
                    "pem": _pem(cert),
                    "created_at": self.now(),
                },
            )
            self.audit("ca-add", name, kind=kind, fingerprint=fingerprint(cert))
        return StoredCA(name, kind, cert, fingerprint(cert), spki)

    def cas(self, kind: str | None = None) -> list[StoredCA]:
        q = select(t.cas).order_by(t.cas.c.id)
        if kind is not None:
            q = q.where(t.cas.c.kind == kind)
        with self._conn() as c:
            rows = c.execute(q).all()
        return [
            StoredCA(
                r.name,
                r.kind,
                self._cert(r.pem),
                r.fingerprint,
                r.spki,
            )
            for r in rows
        ]

    def issuer(self, kind: str) -> Issuer | None:
        """The newest CA of ``kind`` with its (unsealed) key, or None."""
        found = self.cas(kind)
        if not found:
            return None
        ca = found[-1]
        return Issuer(ca.certificate, self.private_key(ca.spki))

    # ------------------------------------------------------------------ identities

    def add_issued(self, records: Sequence[IdentityRecord]) -> None:
        """Persist many issued identities in one transaction (keys sealed, versions bumped)."""
        if not records:
            return
        now = self.now()
        with gc_paused(), self.transaction() as c:
            names = {r.identity for r in records}
            versions = dict(
                c.execute(
                    select(t.certificates.c.identity, func.max(t.certificates.c.version))
                    .where(t.certificates.c.identity.in_(names))
                    .group_by(t.certificates.c.identity)
                ).all()
            )
            key_rows, cert_rows = [], []
            # the chains repeat (one per CA): encode each once, not once per identity
            chain_pems: dict[tuple[int, ...], str] = {}
            for r in records:
                cert = r.certificate
                facts = r.facts or certificate_facts(cert)
                # a record's key is the certificate's (issued with it, or matched to it by
                # this very fingerprint), so one SPKI hash serves both rows
                spki = facts["spki"]
                key_material = r.key if r.key is not None else r.key_der
                if key_material is not None:
                    key_rows.append(
                        self._key_row(
                            key_material, r.key_type, r.identity, "active", spki=spki, now=now
                        )
                    )
                version = versions.get(r.identity, 0) + 1
                versions[r.identity] = version
                chain_key = tuple(id(x) for x in r.chain)
                chain_pem = chain_pems.get(chain_key)
                if chain_pem is None:
                    chain_pem = chain_pems[chain_key] = "".join(_pem(x) for x in r.chain)
                if len(self._parsed) < _PARSED_MAX:
                    self._parsed[facts["pem"]] = cert
                cert_rows.append(
                    {
                        **facts,
                        "identity": r.identity,
                        "version": version,
                        "source": r.source,
                        "chain_pem": chain_pem,
                        "created_at": now,
                    }
                )
            if key_rows:
                c.execute(insert(t.keys), key_rows)
            c.execute(insert(t.certificates), cert_rows)
            # one audit row per identity (every change is logged), in one statement
            c.execute(
                insert(t.audit),
                [
                    {
                        "at": now,
                        "action": "issue",
                        "subject": row["identity"],
                        "detail": json.dumps(
                            {
                                "fingerprint": row["fingerprint"],
                                "not_after": row["not_after"],
                                "source": row["source"],
                                "version": row["version"],
                            },
                            default=str,
                            sort_keys=True,
                        ),
                    }
                    for row in cert_rows
                ],
            )

    def _identity_from_row(
        self, r: Any, chains: dict[str, tuple[x509.Certificate, ...]] | None = None
    ) -> StoredIdentity:
        if chains is None:
            chain = _load_pems(r.chain_pem)
        else:  # identities share a few chains: parse each once
            chain = chains.get(r.chain_pem) or chains.setdefault(
                r.chain_pem, _load_pems(r.chain_pem)
            )
        cert = self._cert(r.pem)
        return StoredIdentity(
            name=r.identity,
            version=r.version,
            certificate=cert,
            chain=chain,
            source=r.source,
            spki=r.spki,
            fingerprint=r.fingerprint,
            created_at=r.created_at,
        )

    def current_identities(self) -> dict[str, StoredIdentity]:
        """The newest version of every identity."""
        latest = (
            select(t.certificates.c.identity, func.max(t.certificates.c.version).label("v"))
            .group_by(t.certificates.c.identity)
            .subquery()
        )
        q = select(t.certificates).join(
            latest,
            (t.certificates.c.identity == latest.c.identity)
            & (t.certificates.c.version == latest.c.v),
        )
        chains: dict[str, tuple[x509.Certificate, ...]] = {}
        with self._conn() as c:
            return {r.identity: self._identity_from_row(r, chains) for r in c.execute(q)}

    def current_identity(self, name: str) -> StoredIdentity | None:
        q = (
            select(t.certificates)
            .where(t.certificates.c.identity == name)
            .order_by(t.certificates.c.version.desc())
            .limit(1)
        )
        with self._conn() as c:
            row = c.execute(q).first()
        return self._identity_from_row(row) if row else None

    def history(self, name: str) -> list[StoredIdentity]:
        q = (
            select(t.certificates)
            .where(t.certificates.c.identity == name)
            .order_by(t.certificates.c.version)
        )
        with self._conn() as c:
            return [self._identity_from_row(r) for r in c.execute(q)]

    def certificate_versions(self, spkis: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """Certificates held on these public keys: certificate fingerprint -> every
        (identity, version) holding it. A certificate is looked up by its key (indexed)."""
        out: dict[str, list[tuple[str, int]]] = {}
        wanted = list(dict.fromkeys(spkis))
        with self._conn() as c:
            for i in range(0, len(wanted), 500):
                q = (
                    select(
                        t.certificates.c.fingerprint,
                        t.certificates.c.identity,
                        t.certificates.c.version,
                    )
                    .where(t.certificates.c.spki.in_(wanted[i : i + 500]))
                    .order_by(t.certificates.c.id)
                )
                for r in c.execute(q):
                    out.setdefault(r.fingerprint, []).append((r.identity, r.version))
        return out

    def count(self, table: str) -> int:
        tbl = t.metadata.tables[table]
        with self._conn() as c:
            return int(c.execute(select(func.count()).select_from(tbl)).scalar() or 0)

    # ------------------------------------------------------------------ CSRs

    def add_csr(self, identity: str, csr: x509.CertificateSigningRequest, spki: str) -> None:
        with self._conn() as c:
            c.execute(
                insert(t.csrs),
                {
                    "identity": identity,
                    "spki": spki,
                    "pem": csr.public_bytes(serialization.Encoding.PEM).decode(),
                    "created_at": self.now(),
                },
            )
        self.audit("csr", identity, spki=spki)

    def csrs(self, identity: str | None = None) -> list[dict[str, Any]]:
        q = select(t.csrs).order_by(t.csrs.c.id)
        if identity is not None:
            q = q.where(t.csrs.c.identity == identity)
        with self._conn() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # ------------------------------------------------------------------ trust stores

    def trust_list(self, appliance: str) -> list[tuple[str, str, x509.Certificate]]:
        """The appliance's Trusted Certificate Authorities: (fingerprint, label, cert)."""
        q = (
            select(t.trust_entries.c.fingerprint, t.trust_entries.c.label, t.trust_entries.c.pem)
            .where(t.trust_entries.c.appliance == appliance)
            .where(t.trust_entries.c.removed_at.is_(None))
            .order_by(t.trust_entries.c.id)
        )
        with self._conn() as c:
            return [(r.fingerprint, r.label, self._cert(r.pem)) for r in c.execute(q)]

    def trust_all(self) -> dict[str, list[x509.Certificate]]:
        q = select(t.trust_entries.c.appliance, t.trust_entries.c.pem).where(
            t.trust_entries.c.removed_at.is_(None)
        )
        out: dict[str, list[x509.Certificate]] = {}
        with self._conn() as c:
            for r in c.execute(q):
                out.setdefault(r.appliance, []).append(self._cert(r.pem))
        return out

    def trust_add(self, appliance: str, cert: x509.Certificate, label: str) -> bool:
        """Add ``cert`` to the appliance's trust store; False if it is already there."""
        return self.trust_add_many([(appliance, cert, label)])[0]

    def trust_add_many(self, entries: Sequence[tuple[str, x509.Certificate, str]]) -> list[bool]:
        """Add many (appliance, certificate, label) entries in a few statements.

        Each entry not already in its appliance's store is added and audited; returns, per
        entry, whether it was added.
        """
        if not entries:
            return []
        now = self.now()
        fps: dict[int, str] = {}  # most entries repeat a few roots: hash each object once
        rows = [
            (a, fps.get(id(cert)) or fps.setdefault(id(cert), fingerprint(cert)), cert, label)
            for a, cert, label in entries
        ]
        appliances = {a for a, _, _, _ in rows}
        present_q = (
            select(t.trust_entries.c.appliance, t.trust_entries.c.fingerprint)
            .where(t.trust_entries.c.removed_at.is_(None))
            .where(t.trust_entries.c.appliance.in_(appliances))
        )
        pems: dict[str, str] = {}
        added: list[bool] = []
        inserts: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        with self._conn() as c:
            present = {(r.appliance, r.fingerprint) for r in c.execute(present_q)}
            for appliance, fp, cert, label in rows:
                if (appliance, fp) in present:
                    added.append(False)
                    continue
                present.add((appliance, fp))
                added.append(True)
                pem = pems.get(fp) or pems.setdefault(fp, _pem(cert))
                inserts.append(
                    {
                        "appliance": appliance,
                        "fingerprint": fp,
                        "label": label,
                        "pem": pem,
                        "added_at": now,
                    }
                )
                audits.append(
                    {
                        "at": now,
                        "action": "trust-add",
                        "subject": appliance,
                        "detail": json.dumps({"fingerprint": fp, "label": label}, sort_keys=True),
                    }
                )
            if inserts:
                c.execute(insert(t.trust_entries), inserts)
                c.execute(insert(t.audit), audits)
        return added

    def trust_remove(self, appliance: str, fingerprint: str) -> int:
        """Remove entries whose fingerprint starts with ``fingerprint``; returns how many."""
        fp = fingerprint.lower().replace(":", "")
        with self._conn() as c:
            res = c.execute(
                update(t.trust_entries)
                .where(t.trust_entries.c.appliance == appliance)
                .where(t.trust_entries.c.removed_at.is_(None))
                .where(t.trust_entries.c.fingerprint.startswith(fp))
                .values(removed_at=self.now())
            )
        n = int(res.rowcount or 0)
        if n:
            self.audit("trust-remove", appliance, fingerprint=fp, count=n)
        return n
