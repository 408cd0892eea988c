"""Backups of a whole store, restores into any store, and per-appliance recovery kits.

:func:`write_backup` streams every table (deployment files, certificates with every
version, CAs, keys, CSRs, trust-store entries with their removals, the audit log) into a
:class:`~ccapki.backup.BackupWriter`, reading in server-side batches inside one read
snapshot. Keys leave the store unsealed (PKCS#8 DER) only inside the encrypted archive;
:func:`restore_backup` re-seals each under the target store's keyring. A restore is one
transaction (under the store's write lock): a wrong passphrase, a damaged or truncated
archive, or a conflict with newer data in the store changes nothing.

"Newer data" (refused unless ``force``): an identity whose store holds a higher version
than the backup's newest, or another certificate at a version the backup holds. With
``force`` the backup's newest certificate becomes the identity's current version, added
as a new version after the store's newest (the store's versions stay in its history).
Without it such an identity is held back (its certificates, CSRs and ACME orders left as
they are) and the restore is refused, unless a key the store holds was damaged (its
sealed bytes no longer open): then the restore repairs it from the backup's copy and goes
on (a full restore: every other identity restored; ``--identity``: that identity's keys
repaired), the identities held back named in the summary's ``repair_only``.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, LargeBinary, Table, func, insert, select, tuple_, update

from ccapki import __version__
from ccapki.backup import SCRYPT_N, BackupHeader, BackupReader, BackupWriter
from ccapki.errors import FileFormatError, InputError, NotFoundError, StoreError
from ccapki.pki.certs import display_name, fingerprint
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import schema as t
from ccapki.store.identities import chain_fingerprints
from ccapki.store.keyring import Keyring
from ccapki.store.records import KeyState
from ccapki.store.schema import UTCDateTime
from ccapki.store.session import STORE_ID_KEY, Store
from ccapki.topology.model import Deployment, IdentitySpec, Role
from ccapki.trust import CAM_TRUST_PATH, CAS_TRUST_PATH

__all__ = [
    "TABLES",
    "BackupContents",
    "BackupIdentity",
    "BackupSummary",
    "KitFile",
    "RecoveryKit",
    "RestoreSummary",
    "Skipped",
    "SkippedKey",
    "backup_store_id",
    "check_kit_folder",
    "create_backup",
    "read_backup",
    "recovery_kit",
    "restore_backup",
    "verify_backup",
    "write_backup",
    "write_recovery_kit",
]

#: The tables a backup holds, in the order it holds them: a restore reads an identity's
#: certificates before the CAs and keys they need, and keys before the CSRs made for them.
TABLES: tuple[str, ...] = (
    "deployments",
    "certificates",
    "cas",
    "keys",
    # CA keys in PKCS#11 tokens (issue 14): where they are (URI, module), never the key
    "ca_token_keys",
    "csrs",
    # ACME (issue 14): the accounts (their key as keys travel: PKCS#8 in the archive,
    # re-sealed on restore) and the orders (naming their account by its key's fingerprint)
    "acme_accounts",
    "acme_orders",
    "trust_entries",
    "audit",
    "notifications",
    "probe_results",
    "runs",
)
#: how a monitoring row is told apart from one the store holds already (restored once)
_MONITORING_KEYS: dict[str, tuple[str, ...]] = {
    "notifications": ("deployment", "subject", "event", "stage", "fingerprint"),
    "probe_results": ("deployment", "appliance", "kind", "at"),
    "runs": ("deployment", "kind", "started_at"),
}
_BATCH = 500  # rows per read batch and per insert
#: the fields a record holds beyond its table's columns
_EXTRA: dict[str, tuple[str, ...]] = {
    "keys": ("der",),
    "acme_accounts": ("der",),
    "acme_orders": ("account",),
}


def _table(name: str) -> Table:
    return t.metadata.tables[name]


def _order(tbl: Table) -> list[Any]:
    if tbl.name == "certificates":  # an identity's versions together, oldest first
        return [tbl.c.deployment, tbl.c.identity, tbl.c.version]
    return [tbl.c.id]


def _encode(tbl: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"t": tbl.name}
    for col in tbl.columns:
        if col.name == "id":
            continue
        value = row[col.name]
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, bytes | memoryview):
            value = base64.b64encode(bytes(value)).decode("ascii")
        out[col.name] = value
    return out


def _newer(what: str) -> FileFormatError:
    return FileFormatError(
        f"the backup holds {what}, which this ccapki does not know",
        "restore it with the ccapki release that made it (`ccapki backup verify FILE` shows "
        "which), or a newer one",
    )


def _decode(tbl: Table, rec: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """A backup record as ``tbl``'s row (every column but ``id``)."""
    cols = {c.name: c for c in tbl.columns if c.name != "id"}
    allowed = {"t", *cols, *extra}
    unknown = [k for k in rec if k not in allowed]
    if unknown:
        raise _newer(f"a field {unknown[0]!r} of {tbl.name}")
    row: dict[str, Any] = {}
    for name, col in cols.items():
        if name not in rec:
            if name in ("nonce", "sealed") and "der" in rec:
                continue
            if col.nullable:
                row[name] = None
                continue
            raise _newer(f"a {tbl.name} record without its {name!r}")
        value = rec[name]
        if value is not None:
            if isinstance(col.type, UTCDateTime):
                value = dt.datetime.fromisoformat(value)
            elif isinstance(col.type, LargeBinary):
                value = base64.b64decode(value)
        row[name] = value
    return row


def _with_not_after(
    rows: list[dict[str, Any]], ca_pems: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """CA and trust-entry rows of a backup made before schema 0010 (no ``not_after``) or
    0011 (no ``not_before``) with their certificate's end and start of validity, read from
    its PEM (once per certificate); an entry of a stored CA, whose PEM is empty (0012),
    from the CA's in ``ca_pems`` (fingerprint -> PEM)."""
    span: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for r in rows:
        if r.get("not_after") is None or r.get("not_before") is None:
            pem = r["pem"] or (ca_pems or {}).get(r.get("fingerprint", ""), "")
            if not pem:  # no certificate to read them from: read from the PEM later
                continue
            if pem not in span:
                cert = x509.load_pem_x509_certificate(pem.encode())
                span[pem] = (cert.not_valid_after_utc, cert.not_valid_before_utc)
            r["not_after"], r["not_before"] = span[pem]
    return rows


# ---------------------------------------------------------------------------- create

#: how many skipped keys a backup's header names one by one (the header holds at most 16
#: KiB); beyond them it gives their number
_SKIPPED_LISTED = 64


@dataclass(frozen=True)
class SkippedKey:
    """A key ``backup create --skip-damaged`` left out because its sealed bytes no longer
    open: ``table`` ``keys`` (``state`` active, superseded, pending, retired or ca) or
    ``acme_accounts`` (``state`` ``acme-account``, no identity)."""

    table: str
    deployment: str
    identity: str | None
    fingerprint: str
    state: str

    def label(self) -> str:
        """``FINGERPRINT16 (identity, state)``: how outputs name it."""
        return f"{self.fingerprint[:16]} ({self.identity or 'a CA'}, {self.state})"

    def as_json(self) -> dict[str, object]:
        """The key as the backup's header and ``--json`` outputs hold it."""
        return {
            "table": self.table,
            "deployment": self.deployment,
            "identity": self.identity,
            "fingerprint": self.fingerprint,
            "state": self.state,
        }


@dataclass(frozen=True)
class Skipped:
    """What a backup left out: the damaged keys (at most :data:`_SKIPPED_LISTED` named,
    ``total`` in all) and the CSRs and ACME orders of those keys, left out with them."""

    keys: tuple[SkippedKey, ...] = ()
    total: int = 0
    csrs: int = 0
    acme_orders: int = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def as_json(self) -> dict[str, object]:
        """As the header's ``extra.skipped`` holds it."""
        return {
            "keys": [k.as_json() for k in self.keys[:_SKIPPED_LISTED]],
            "total": self.total,
            "csrs": self.csrs,
            "acme_orders": self.acme_orders,
        }

    @classmethod
    def of(cls, header: BackupHeader) -> Skipped:
        """What ``header`` says its backup left out (nothing for a backup made without
        ``--skip-damaged``, or one whose header does not say it in a form this reads)."""
        raw = header.extra.get("skipped")
        if not isinstance(raw, dict):
            return cls()
        try:
            keys = tuple(
                SkippedKey(
                    str(k["table"]),
                    str(k["deployment"]),
                    None if k.get("identity") is None else str(k["identity"]),
                    str(k["fingerprint"]),
                    str(k["state"]),
                )
                for k in raw.get("keys", [])
            )
            return cls(
                keys,
                max(int(raw.get("total", len(keys))), len(keys)),
                int(raw.get("csrs", 0)),
                int(raw.get("acme_orders", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls()


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds: records per table, identities, and its size; ``skipped``: the
    damaged keys left out (``skip_damaged``)."""

    counts: Mapping[str, int]
    identities: int
    bytes: int
    created_at: dt.datetime
    path: str | None = None
    skipped: Skipped = field(default_factory=Skipped)


@contextlib.contextmanager
def _snapshot(store: Store) -> Iterator[Connection]:
    """A connection reading one consistent snapshot of the store (every table as of the
    same moment, however long the backup takes)."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        # SQLite: the store's engine says BEGIN at the first read (WAL: a snapshot)
        with conn.begin():
            yield conn


def _damaged_keys(conn: Connection, keyring: Keyring) -> Skipped:
    """The keys (and ACME account keys) of the snapshot ``conn`` whose sealed bytes do not
    open, with the number of CSRs and ACME orders made for them."""
    found: list[SkippedKey] = []
    for name in ("keys", "acme_accounts"):
        tbl = _table(name)
        c = tbl.c
        cols = [c.deployment, c.fingerprint, c.nonce, c.sealed]
        if name == "keys":
            cols += [c.identity, c.state]
        q = select(*cols).order_by(c.id)
        for row in conn.execute(q, execution_options={"yield_per": _BATCH}).mappings():
            try:
                keyring.open(row["nonce"], row["sealed"], row["fingerprint"])
            except StoreError:
                found.append(
                    SkippedKey(
                        name,
                        row["deployment"],
                        row.get("identity"),
                        row["fingerprint"],
                        row.get("state") or "acme-account",
                    )
                )
    if not found:
        return Skipped()
    keys = {k.fingerprint for k in found if k.table == "keys"}
    accounts = {k.fingerprint for k in found if k.table == "acme_accounts"}
    csrs = orders = 0
    if keys:
        csrs = conn.execute(
            select(func.count()).select_from(t.csrs).where(t.csrs.c.spki.in_(keys))
        ).scalar_one()
    if keys or accounts:
        o, a = t.acme_orders.c, t.acme_accounts.c
        orders = conn.execute(
            select(func.count())
            .select_from(t.acme_orders.join(t.acme_accounts, o.account_id == a.id))
            .where(o.spki.in_(keys) | a.fingerprint.in_(accounts))
        ).scalar_one()
    return Skipped(tuple(found), len(found), int(csrs), int(orders))


def write_backup(
    store: Store,
    fh: IO[bytes],
    passphrase: str,
    *,
    scrypt_n: int = SCRYPT_N,
    skip_damaged: bool = False,
) -> BackupSummary:
    """Write the whole store to ``fh`` as an encrypted backup under ``passphrase``.

    Reads one consistent snapshot in batches (never the whole store in memory); each key
    is unsealed only to go into the encrypted stream. Raises :class:`PasswordError` for a
    short backup passphrase or a wrong store passphrase (before anything is written), and
    :class:`StoreError` for a key whose sealed bytes do not open, unless ``skip_damaged``:
    then such keys (and the CSRs and ACME orders made for them) are left out and named in
    the header (``extra.skipped``) and in the summary's ``skipped``.
    """
    keyring = store.keyring  # the store's passphrase first
    now = store.now()
    # the store's ID goes in the header (an older store gets one now, unless read-only)
    store_id = store.store_id() or (None if store.read_only else store.ensure_store_id())
    identities = 0
    acme_accounts: dict[int, str] = {}  # ACME account id -> its key's fingerprint
    with _snapshot(store) as conn:
        skipped = _damaged_keys(conn, keyring) if skip_damaged else Skipped()
        left_out = {k.fingerprint for k in skipped.keys if k.table == "keys"}
        left_accounts = {k.fingerprint for k in skipped.keys if k.table == "acme_accounts"}
        extra: dict[str, object] = {"dialect": store.engine.dialect.name}
        if store_id is not None:
            extra["store_id"] = store_id
        if skipped:
            extra["skipped"] = skipped.as_json()
        with BackupWriter(
            fh,
            passphrase,
            created_at=now,
            created_by=f"ccapki {__version__}",
            schema=t.SCHEMA_HEAD,
            extra=extra,
            scrypt_n=scrypt_n,
        ) as writer:
            counts, size, identities = _write_tables(
                conn, writer, keyring, left_out, left_accounts, acme_accounts
            )
    return BackupSummary(counts, identities, size, now, skipped=skipped)


def _write_tables(
    conn: Connection,
    writer: BackupWriter,
    keyring: Keyring,
    left_out: set[str],
    left_accounts: set[str],
    acme_accounts: dict[int, str],
) -> tuple[dict[str, int], int, int]:
    """Every table of the snapshot ``conn`` into ``writer`` but the keys ``left_out`` (and
    ACME accounts ``left_accounts``), their CSRs and ACME orders; closes the writer.
    Returns the records per table, the bytes written and the identities."""
    identities = 0
    for name in TABLES:
        tbl = _table(name)
        q = select(tbl).order_by(*_order(tbl))
        result = conn.execute(q, execution_options={"yield_per": _BATCH})
        last: tuple[str, str] | None = None
        for row in result.mappings():
            rec = _encode(tbl, row)
            if name in ("keys", "acme_accounts"):
                if row["fingerprint"] in (left_out if name == "keys" else left_accounts):
                    continue  # damaged, skipped: named in the header
                der = _unsealed(keyring, name, row)
                del rec["nonce"], rec["sealed"]
                rec["der"] = base64.b64encode(der).decode("ascii")
                if name == "acme_accounts":
                    acme_accounts[row["id"]] = row["fingerprint"]
            elif name == "csrs" and row["spki"] in left_out:
                continue  # its key was skipped: the CSR is no use without it
            elif name == "acme_orders":
                if row["spki"] in left_out or row["account_id"] not in acme_accounts:
                    continue  # its key or its account was skipped
                # ids are not carried: the order names its account by its key
                rec["account"] = acme_accounts.get(row["account_id"])
            elif name == "certificates":
                ident = (row["deployment"], row["identity"])
                if ident != last:
                    identities += 1
                    last = ident
            writer.write(rec)
    writer.close()
    return dict(writer.counts), writer.bytes_written, identities


def _unsealed(keyring: Keyring, table: str, row: Mapping[Any, Any]) -> bytes:
    """The key of a ``keys`` or ``acme_accounts`` row, unsealed for the archive. Raises
    :class:`StoreError` naming the key, its identity and state when it does not open (its
    sealed bytes changed): a backup cannot hold it, so none is written."""
    try:
        return keyring.open(row["nonce"], row["sealed"], row["fingerprint"])
    except StoreError:
        fp = str(row["fingerprint"])[:16]
        if table == "acme_accounts":
            what, fix = f"the ACME account key {fp}", "`ccapki backup restore FILE`"
        else:
            owner = row["identity"] or "a CA"
            what = f"key {fp} ({owner}, {row['state']})"
            fix = (
                f"`ccapki backup restore FILE --identity {row['identity']}`"
                if row["identity"]
                else "`ccapki backup restore FILE`"
            )
        raise StoreError(
            f"{what} does not open with the store's data key (its sealed bytes are "
            "damaged): a backup cannot hold it, so none was written",
            f"`ccapki doctor` lists every key that does not open; put it back from an "
            f"earlier backup ({fix}), then run `ccapki backup create` again; or give "
            "`ccapki backup create --skip-damaged` to back up everything else now (the "
            "backup names the keys it leaves out)",
        ) from None


def create_backup(
    store: Store,
    path: str | os.PathLike[str],
    passphrase: str,
    *,
    scrypt_n: int = SCRYPT_N,
    skip_damaged: bool = False,
) -> BackupSummary:
    """Write a backup of ``store`` to the file ``path`` (atomically, 0600: a failure or an
    interruption leaves no file) and log it in the audit log (``backup-create``, with the
    keys left out under ``skip_damaged``). Raises what :func:`write_backup` raises."""
    from ccapki.fsutil import atomic_writer

    store.unlock()
    target = Path(path)
    where = str(target.resolve())
    with atomic_writer(target, private=True) as fh:
        summary = write_backup(store, fh, passphrase, scrypt_n=scrypt_n, skip_damaged=skip_damaged)
        # logged before the file takes its name: another writer holding the store (a
        # StoreBusy), or any failure here, leaves no backup file (and an older one at
        # that path as it was); the backup written, then an error, left the file there
        with store.transaction():
            store.audit.record(
                "backup-create",
                where,
                bytes=summary.bytes,
                identities=summary.identities,
                records=dict(summary.counts),
                **(
                    {"skipped_keys": [k.as_json() for k in summary.skipped.keys]}
                    if summary.skipped
                    else {}
                ),
            )
    return BackupSummary(
        summary.counts,
        summary.identities,
        summary.bytes,
        summary.created_at,
        where,
        summary.skipped,
    )


# ---------------------------------------------------------------------------- verify


def read_backup(
    path: str | os.PathLike[str], passphrase: str | Callable[[], str]
) -> tuple[IO[bytes], BackupReader]:
    """Open the backup file ``path`` and prove its passphrase: ``(file, reader)``; the
    caller closes the file. ``passphrase`` may be a function that asks for it: it is
    called once the file is open, so a wrong path is said before anyone is asked. Raises
    :class:`InputError` for a missing or unreadable file, or a folder (the hint names the
    backups in it)."""
    from ccapki.fsutil import open_input_stream, unreadable

    p = Path(path)
    try:
        fh = open_input_stream(p)  # a FIFO nobody writes to: an error, not a wait for ever
    except FileNotFoundError:
        raise InputError(f"{p}: no such file", "check the path of the backup file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, not a file", _backups_in(p)) from None
    except PermissionError:
        raise InputError(f"{p}: permission denied", f"make it readable: chmod u+r {p}") from None
    except OSError as exc:  # a symbolic link loop, a name too long, an I/O error
        raise unreadable(p, exc) from None
    try:
        secret = passphrase if isinstance(passphrase, str) else passphrase()
        return fh, BackupReader(fh, secret, source=str(p))
    except BaseException:
        fh.close()
        raise


def _backups_in(folder: Path, most: int = 3) -> str:
    """The hint for a folder given as a backup file: the backups it holds, if any."""
    from ccapki.backup import MAGIC

    found: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in sorted(folder.iterdir()):
            with contextlib.suppress(OSError):
                if entry.is_file():
                    with entry.open("rb") as fh:
                        if fh.read(len(MAGIC)) == MAGIC:
                            found.append(entry)
    if not found:
        return (
            f"name the backup file itself, not a folder ({folder} holds no ccapki backup; "
            "`ccapki backup create --out FILE` writes one)"
        )
    names = ", ".join(str(f) for f in found[:most]) + (", ..." if len(found) > most else "")
    return f"name the backup file itself, e.g. {found[-1]} (the backups in it: {names})"


@dataclass(frozen=True)
class BackupIdentity:
    """An identity a backup holds: its deployment, versions and newest certificate."""

    deployment: str
    name: str
    versions: int
    fingerprint: str
    not_after: dt.datetime


@dataclass(frozen=True)
class BackupContents:
    """What ``backup verify`` found: the header, records per table, every identity."""

    header: BackupHeader
    counts: Mapping[str, int]
    identities: tuple[BackupIdentity, ...]
    deployments: tuple[str, ...]
    keys_checked: int
    #: the damaged keys ``backup create --skip-damaged`` left out (the header says which)
    skipped: Skipped = field(default_factory=Skipped)


def verify_backup(reader: BackupReader) -> BackupContents:
    """Read the whole backup: every chunk authenticates, the end record's counts agree,
    every record is one this ccapki can restore, and every key parses and matches its
    public-key fingerprint. Raises :class:`FileFormatError` otherwise."""
    counts: collections.Counter[str] = collections.Counter()
    idents: dict[tuple[str, str], BackupIdentity] = {}
    deployments: dict[str, None] = {}
    keys = 0
    for rec in reader.records():
        kind = rec["t"]
        if kind not in TABLES:
            raise _newer(f"records of type {kind!r}")
        row = _decode(_table(kind), rec, _EXTRA.get(kind, ()))
        counts[kind] += 1
        if kind == "certificates":
            key = (row["deployment"], row["identity"])
            idents[key] = BackupIdentity(
                row["deployment"],
                row["identity"],
                row["version"],
                row["fingerprint"],
                row["not_after"],
            )
            deployments.setdefault(row["deployment"])
        elif kind == "deployments":
            deployments.setdefault(row["name"])
        elif kind in ("keys", "acme_accounts"):
            what = "key" if kind == "keys" else "ACME account key"
            try:
                key_obj = serialization.load_der_private_key(
                    base64.b64decode(rec["der"]), password=None, unsafe_skip_rsa_key_validation=True
                )
            except (ValueError, TypeError, KeyError):
                raise FileFormatError(
                    f"{reader.source}: the {what} {row['fingerprint'][:16]} in the backup does "
                    "not parse",
                    "use another backup (this one was written from a damaged store)",
                ) from None
            if public_key_fingerprint(key_obj) != row["fingerprint"]:
                raise FileFormatError(
                    f"{reader.source}: the {what} {row['fingerprint'][:16]} in the backup does "
                    "not match its fingerprint",
                    "use another backup (this one was written from a damaged store)",
                )
            keys += 1
    return BackupContents(
        reader.header,
        dict(counts),
        tuple(sorted(idents.values(), key=lambda i: (i.deployment, i.name))),
        tuple(deployments),
        keys,
        Skipped.of(reader.header),
    )


# ---------------------------------------------------------------------------- restore


@dataclass
class RestoreSummary:
    """What a restore did: rows added and rows the store held already, per table; the
    identities that got versions (``deployment/name``) and those forced."""

    header: BackupHeader
    added: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    identities: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    #: the URIs of the CA keys in PKCS#11 tokens the backup names (it cannot hold them)
    token_keys: list[str] = field(default_factory=list)
    #: keys the store held whose sealed bytes no longer opened, sealed again from the
    #: backup's copy (``FINGERPRINT16 (identity)``)
    repaired: list[str] = field(default_factory=list)
    #: identities (``deployment/name``) whose store holds newer data, held back by a
    #: restore that repaired damaged keys (a full one, or ``--identity``): their damaged
    #: keys were repaired, their certificates, CSRs and ACME orders left as they are
    repair_only: list[str] = field(default_factory=list)
    #: the damaged keys the backup itself lacks (made with ``--skip-damaged``)
    skipped: Skipped = field(default_factory=Skipped)


def backup_store_id(header: BackupHeader) -> str | None:
    """The ID of the store a backup was made of (its header's ``extra.store_id``), or None
    for a backup made before backups carried it."""
    found = header.extra.get("store_id")
    return found if isinstance(found, str) and found else None


#: the tables a store holding nothing has no rows in (``init`` writes only meta and audit)
_HOLDING = (
    "deployments", "certificates", "cas", "keys", "ca_token_keys", "csrs", "acme_accounts",
    "trust_entries",
)  # fmt: skip


def _holds_data(conn: Connection) -> bool:
    """Whether the store holds any deployment, certificate, CA, key, CSR or trust entry."""
    for name in _HOLDING:
        tbl = _table(name)
        if conn.execute(select(1).select_from(tbl).limit(1)).first() is not None:
            return True
    return False


def _check_origin(store: Store, conn: Connection, header: BackupHeader, force: bool) -> bool:
    """Refuse (:class:`InputError`, nothing written) a backup of another store into a store
    holding data, unless ``force``. Returns whether the store holds nothing and the backup
    names its store (whose ID the store then takes: it becomes that store, moved here)."""
    theirs = backup_store_id(header)
    ours = store.store_id()
    if theirs is None:  # an older backup: only clashing certificates can tell
        return False
    if not _holds_data(conn):
        return theirs != ours
    if ours is None or theirs == ours or force:
        return False
    raise InputError(
        f"the backup comes from another store (store ID {theirs[:8]}; this store's is "
        f"{ours[:8]}); nothing was restored",
        "check it is this store's backup (`ccapki backup verify FILE` prints its store ID); "
        "if restoring another store's backup is intended (e.g. moving to a new machine: "
        "restore it into a new, empty store, which asks nothing), give --force",
    )


def _newer_in_store(group: Sequence[Mapping[str, Any]], mine: Mapping[int, str]) -> str | None:
    """Why the store holds newer data for an identity than the backup (``group``: the
    backup's versions of it, oldest first; ``mine``: the store's, version -> certificate
    fingerprint), in words: another certificate at a version the backup holds, or a
    higher version than the backup's newest. None when the backup's versions merge."""
    clash = [
        r["version"] for r in group if mine.get(r["version"], r["fingerprint"]) != r["fingerprint"]
    ]
    if clash:
        return f"another certificate at v{clash[0]}"
    top, newest = max(mine), group[-1]["version"]
    if top > newest:
        return f"v{top} in the store, v{newest} in the backup"
    return None


def _audit_key(at: dt.datetime, action: str, subject: str, detail: str) -> bytes:
    text = "\0".join((at.astimezone(dt.UTC).isoformat(), action, subject, detail))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _label(deployment: str, name: str) -> str:
    return f"{deployment}/{name}"


class _Restorer:
    """Writes backup records into the open transaction ``conn``, batch by batch."""

    def __init__(
        self,
        store: Store,
        conn: Connection,
        header: BackupHeader,
        only: str | None,
        force: bool,
        only_deployment: str | None = None,
    ) -> None:
        self.store = store
        self.conn = conn
        self.only = only
        self.only_deployment = only_deployment
        self.force = force
        self.summary = RestoreSummary(header, skipped=Skipped.of(header))
        self.batch: list[dict[str, Any]] = []
        self.table: str | None = None
        self.position = -1
        self.conflicts: list[str] = []
        self.clashes = 0  # conflicts that are another certificate at a version, not a newer one
        self.touched: set[tuple[str, str]] = set()  # identities merged onto store versions
        self.selected: set[tuple[str, str]] = set()  # --identity: the groups restored
        # --identity whose store holds newer data: only its damaged keys are repaired
        self.repair_only: dict[tuple[str, str], str] = {}  # group -> why it is newer
        self.repair_spkis: set[str] = set()
        self.repaired_only = 0
        self.want_spkis: set[str] = set()
        self.want_cas: set[str] = set()
        #: --identity: each deployment's newest file in the backup (by name)
        self.only_files: dict[str, dict[str, Any]] = {}
        self.acme_ids: dict[str, int] = {}  # ACME account key fingerprint -> id in the store
        self.audit_held: collections.Counter[bytes] | None = None
        self.dep_held: dict[str, tuple[dt.datetime, set[tuple[dt.datetime, bytes]]]] | None = None

    # ------------------------------------------------------------ feeding

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec["t"]
        if kind not in TABLES:
            raise _newer(f"records of type {kind!r}")
        pos = TABLES.index(kind)
        if pos < self.position:
            raise FileFormatError(
                "the backup's records are out of order", "use an intact copy of the backup"
            )
        if kind != self.table:
            self.flush()
            self.table, self.position = kind, pos
        elif len(self.batch) >= _BATCH and not (
            kind == "certificates"
            and (rec.get("deployment"), rec.get("identity"))
            == (self.batch[-1]["deployment"], self.batch[-1]["identity"])
        ):
            self.flush()
        row = _decode(_table(kind), rec, _EXTRA.get(kind, ()))
        if kind in ("keys", "acme_accounts"):
            row["der"] = base64.b64decode(rec["der"])
        elif kind == "acme_orders":
            row["account"] = rec.get("account")
        self.batch.append(row)

    def flush(self) -> None:
        if not self.batch or self.table is None:
            return
        rows, self.batch = self.batch, []
        getattr(self, f"_{self.table}")(rows)

    def _count(self, table: str, added: int, kept: int) -> None:
        s = self.summary
        s.added[table] = s.added.get(table, 0) + added
        s.kept[table] = s.kept.get(table, 0) + kept

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(_table(table)), rows)

    # ------------------------------------------------------------ tables

    def _deployments(self, rows: list[dict[str, Any]]) -> None:
        """A deployment file the store holds already is kept; one older than the store's
        newest file of that deployment is left out (it would become the newest). With
        ``--identity``, each deployment's newest file is held back for :meth:`finish`."""
        if self.only is not None:
            for row in rows:
                newer = self.only_files.get(row["name"])
                if newer is None or row["loaded_at"] >= newer["loaded_at"]:
                    self.only_files[row["name"]] = row
            return
        if self.dep_held is None:
            d = t.deployments.c
            self.dep_held = {}
            for r in self.conn.execute(select(d.name, d.loaded_at, d.source_text)):
                top, seen = self.dep_held.setdefault(r.name, (r.loaded_at, set()))
                seen.add((r.loaded_at, hashlib.sha256(r.source_text.encode()).digest()))
                self.dep_held[r.name] = (max(top, r.loaded_at), seen)
        new = []
        for row in rows:
            held = self.dep_held.get(row["name"])
            newest, files = held if held else (None, set())
            text_hash = hashlib.sha256(row["source_text"].encode()).digest()
            if (row["loaded_at"], text_hash) in files or (
                newest is not None and row["loaded_at"] < newest
            ):
                continue
            new.append(row)
        self._insert("deployments", new)
        self._count("deployments", len(new), len(rows) - len(new))

    def _certificates(self, rows: list[dict[str, Any]]) -> None:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault((row["deployment"], row["identity"]), []).append(row)
        if self.only is not None:
            groups = {
                k: v
                for k, v in groups.items()
                if k[1] == self.only and self.only_deployment in (None, k[0])
            }
            self.selected |= set(groups)
        if not groups:
            return
        c = t.certificates.c
        held: dict[tuple[str, str], dict[int, str]] = {}
        q = select(c.deployment, c.identity, c.version, c.fingerprint).where(
            c.identity.in_({name for _, name in groups})
        )
        for r in self.conn.execute(q):
            held.setdefault((r.deployment, r.identity), {})[r.version] = r.fingerprint
        new: list[dict[str, Any]] = []
        kept = 0
        for key, group in groups.items():
            mine = held.get(key)
            if self.only is not None and not self._wanted(key, group, mine):
                continue
            if not mine:
                new += group
                self.summary.identities.append(_label(*key))
                continue
            why = _newer_in_store(group, mine)
            if why is None:
                add = [r for r in group if r["version"] not in mine]
                kept += len(group) - len(add)
                if add:
                    new += add
                    self.touched.add(key)
                    self.summary.identities.append(_label(*key))
                continue
            if not self.force:
                # held back: only its damaged keys are repaired; refused at the end when
                # no key was (see finish)
                self._hold_back(key, group, why)
                continue
            top, newest = max(mine), group[-1]
            kept += len(group)
            if mine[top] == newest["fingerprint"]:
                continue  # the backup's newest is the store's newest already
            new.append({**newest, "version": top + 1})
            self.touched.add(key)
            self.summary.forced.append(_label(*key))
        for row in new:  # a backup made before schema 0010: its chain named here
            if row.get("chain_fps") is None:
                row["chain_fps"] = " ".join(chain_fingerprints(row["chain_pem"]))
        self._insert("certificates", new)
        self._count("certificates", len(new), kept)

    def _wanted(
        self, key: tuple[str, str], group: list[dict[str, Any]], mine: dict[int, str] | None
    ) -> bool:
        """``--identity``: whether its certificates are restored. Not when the store holds
        newer data for it and there is no ``force``: then only its damaged keys are
        repaired (the keys the backup holds for it, each proven by its fingerprint), its
        certificates, CAs and CSRs are left as they are. Else the keys and CAs of its
        versions are wanted."""
        if mine and not self.force:
            why = _newer_in_store(group, mine)
            if why is not None:
                self._hold_back(key, group, why)
                return False
        for row in group:
            self.want_spkis.add(row["spki"])
            if row["chain_pem"].strip():
                self.want_cas |= {
                    fingerprint(c)
                    for c in x509.load_pem_x509_certificates(row["chain_pem"].encode())
                }
        return True

    def _hold_back(self, key: tuple[str, str], group: list[dict[str, Any]], why: str) -> None:
        """An identity whose store holds newer data (``why``), without ``force``: its
        certificates, CSRs and ACME orders are not restored, its keys only repaired where
        the store's copy is damaged (a full restore and ``--identity`` alike)."""
        self.repair_only[key] = why
        self.repair_spkis |= {r["spki"] for r in group}

    def _cas(self, rows: list[dict[str, Any]]) -> None:
        if self.only is not None:
            rows = [r for r in rows if r["fingerprint"] in self.want_cas]
            self.want_spkis |= {r["spki"] for r in rows}
        have = self._existing(t.cas.c.fingerprint, [r["fingerprint"] for r in rows])
        new = _with_not_after([r for r in rows if r["fingerprint"] not in have])
        self._insert("cas", new)
        self._count("cas", len(new), len(rows) - len(new))

    def _keys(self, rows: list[dict[str, Any]]) -> None:
        if self.repair_only:
            rows = self._repair_only(rows)
        if self.only is not None:
            rows = [
                r
                for r in rows
                if r["fingerprint"] in self.want_spkis
                or (
                    (r["deployment"], r["identity"]) in self.selected
                    and (r["deployment"], r["identity"]) not in self.repair_only
                )
            ]
        have = self._existing(t.keys.c.fingerprint, [r["fingerprint"] for r in rows])
        keyring = self.store.keyring
        new = []
        for r in rows:
            if r["fingerprint"] in have:
                self._repair_key(keyring, r)
                continue
            der = r.pop("der")
            r["nonce"], r["sealed"] = keyring.seal(der, r["fingerprint"])
            new.append(r)
        self._insert("keys", new)
        self._count("keys", len(new), len(rows) - len(new))

    def _repair_only(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The keys of the identities held back (whose store holds newer data, see
        :meth:`_hold_back`): each the store holds is repaired if damaged; none is added
        (their certificates were not restored). Returns the other rows."""
        mine: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for r in rows:
            held_back = r["fingerprint"] not in self.want_spkis and (
                r["fingerprint"] in self.repair_spkis
                or (r["deployment"], r["identity"]) in self.repair_only
            )
            (mine if held_back else rest).append(r)
        have = self._existing(t.keys.c.fingerprint, [r["fingerprint"] for r in mine])
        before = len(self.summary.repaired)
        for r in mine:
            if r["fingerprint"] in have:
                self._repair_key(self.store.keyring, r)
        self.repaired_only += len(self.summary.repaired) - before
        return rest

    def _repair_key(self, keyring: Keyring, rec: dict[str, Any]) -> None:
        """A key the store holds already is kept, unless its sealed bytes no longer open
        (damaged: what ``doctor`` reports): then it is sealed again from the backup's
        copy, once that copy proves to be the key of that fingerprint."""
        c = t.keys.c
        row = self.conn.execute(
            select(c.nonce, c.sealed).where(c.fingerprint == rec["fingerprint"])
        ).one()
        try:
            keyring.open(row.nonce, row.sealed, rec["fingerprint"])
            return
        except StoreError:
            pass
        der = rec["der"]  # decoded by add()
        try:
            key = serialization.load_der_private_key(der, password=None)
        except ValueError:
            return  # the backup's copy is no key: the store's row stays as it is
        if public_key_fingerprint(key) != rec["fingerprint"]:
            return
        nonce, sealed = keyring.seal(der, rec["fingerprint"])
        self.conn.execute(
            update(t.keys)
            .where(c.fingerprint == rec["fingerprint"])
            .values(nonce=nonce, sealed=sealed)
        )
        self.summary.repaired.append(f"{rec['fingerprint'][:16]} ({rec.get('identity') or 'a CA'})")

    def _ca_token_keys(self, rows: list[dict[str, Any]]) -> None:
        """Where CA keys in PKCS#11 tokens are: recorded again, the keys stay in the tokens."""
        if self.only is not None:
            rows = [r for r in rows if r["fingerprint"] in self.want_spkis]
        have = self._existing(t.ca_token_keys.c.fingerprint, [r["fingerprint"] for r in rows])
        new = [r for r in rows if r["fingerprint"] not in have]
        self._insert("ca_token_keys", new)
        self._count("ca_token_keys", len(new), len(rows) - len(new))
        self.summary.token_keys += [r["uri"] for r in rows]

    def _acme_accounts(self, rows: list[dict[str, Any]]) -> None:
        """ACME accounts: re-sealed under the store's keyring; one the store holds (the
        same key) is kept. With ``--identity``: those of the restored identity's
        deployment (its orders name one)."""
        if self.only is not None:
            deps = {d for d, n in self.selected if (d, n) not in self.repair_only}
            rows = [r for r in rows if r["deployment"] in deps]
        c = t.acme_accounts.c
        have = self._existing(c.fingerprint, [r["fingerprint"] for r in rows])
        keyring = self.store.keyring
        new = []
        for r in rows:
            der = r.pop("der")
            if r["fingerprint"] in have:
                continue
            r["nonce"], r["sealed"] = keyring.seal(der, r["fingerprint"])
            new.append(r)
        self._insert("acme_accounts", new)
        self._count("acme_accounts", len(new), len(rows) - len(new))
        fps = {r["fingerprint"] for r in rows}
        if fps:
            q = select(c.id, c.fingerprint).where(c.fingerprint.in_(fps))
            self.acme_ids.update({r.fingerprint: r.id for r in self.conn.execute(q)})

    def _acme_orders(self, rows: list[dict[str, Any]]) -> None:
        """ACME orders, their account found by its key's fingerprint; one the store holds
        (the same identity, key and time) is kept."""
        rows = [r for r in rows if self._restored(r)]
        out = []
        for r in rows:
            account = self.acme_ids.get(r.pop("account") or "")
            if account is None:
                raise FileFormatError(
                    f"an ACME order of {r['identity']} in the backup names no account it holds",
                    "use another backup (this one was written from a damaged store)",
                )
            r["account_id"] = account
            out.append(r)
        if not out:
            return
        c = t.acme_orders.c
        q = select(c.deployment, c.identity, c.spki, c.created_at).where(
            c.identity.in_({r["identity"] for r in out})
        )
        have = {(h.deployment, h.identity, h.spki, h.created_at) for h in self.conn.execute(q)}
        new = [
            r
            for r in out
            if (r["deployment"], r["identity"], r["spki"], r["created_at"]) not in have
        ]
        self._insert("acme_orders", new)
        self._count("acme_orders", len(new), len(out) - len(new))

    def _restored(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` (a CSR, an ACME order) is of an identity restored: not one held
        back (its store holds newer data: only its keys are repaired), and with
        ``--identity`` the identity named."""
        group = (row["deployment"], row["identity"])
        if group in self.repair_only:
            return False
        return self.only is None or group in self.selected

    def _existing(self, col: Any, values: Sequence[str]) -> set[str]:
        if not values:
            return set()
        return {r[0] for r in self.conn.execute(select(col).where(col.in_(set(values))))}

    def _csrs(self, rows: list[dict[str, Any]]) -> None:
        rows = [r for r in rows if self._restored(r)]
        if not rows:
            return
        c = t.csrs.c
        q = select(c.deployment, c.identity, c.spki, c.pem).where(
            c.spki.in_({r["spki"] for r in rows})
        )
        have = {tuple(r) for r in self.conn.execute(q)}
        new = [r for r in rows if (r["deployment"], r["identity"], r["spki"], r["pem"]) not in have]
        self._insert("csrs", new)
        self._count("csrs", len(new), len(rows) - len(new))

    def _trust_entries(self, rows: list[dict[str, Any]]) -> None:
        if self.only is not None:
            return
        c = t.trust_entries.c
        q = select(c.deployment, c.appliance, c.fingerprint, c.added_at, c.removed_at).where(
            c.appliance.in_({r["appliance"] for r in rows})
        )
        same: set[tuple[Any, ...]] = set()
        active: set[tuple[str, str, str]] = set()
        for held in self.conn.execute(q):
            same.add((held.deployment, held.appliance, held.fingerprint, held.added_at))
            if held.removed_at is None:
                active.add((held.deployment, held.appliance, held.fingerprint))
        new = []
        for r in rows:
            entry = (r["deployment"], r["appliance"], r["fingerprint"])
            if (*entry, r["added_at"]) in same or (r["removed_at"] is None and entry in active):
                continue
            if r["removed_at"] is None:
                active.add(entry)
            new.append(r)
        by_ca = {r["fingerprint"] for r in new if not r["pem"]}
        ca_pems: dict[str, str] = {}
        if by_ca:  # entries of a stored CA (0012): the CA rows were restored before them
            ca = t.cas.c
            q = select(ca.fingerprint, ca.pem).where(ca.fingerprint.in_(by_ca))
            ca_pems = {str(r.fingerprint): str(r.pem) for r in self.conn.execute(q)}
        self._insert("trust_entries", _with_not_after(new, ca_pems))
        self._count("trust_entries", len(new), len(rows) - len(new))

    def _audit(self, rows: list[dict[str, Any]]) -> None:
        """An audit row the store holds already (the same time, action, subject and
        details, as many times as it holds it) is kept; the store's rows are read once."""
        if self.only is not None:
            return
        if self.audit_held is None:
            c = t.audit.c
            q = select(c.at, c.action, c.subject, c.detail)
            result = self.conn.execute(q, execution_options={"yield_per": _BATCH * 4})
            self.audit_held = collections.Counter(_audit_key(*r) for r in result)
        have = self.audit_held
        new = []
        for r in rows:
            key = _audit_key(r["at"], r["action"], r["subject"], r["detail"])
            if have[key]:
                have[key] -= 1
                continue
            new.append(r)
        self._insert("audit", new)
        self._count("audit", len(new), len(rows) - len(new))

    def _monitoring(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Notifications sent, probe results and runs: a row the store holds already is
        kept (so a restored store does not send a notification twice)."""
        if self.only is not None:
            return
        tbl = _table(table)
        names = _MONITORING_KEYS[table]
        cols = [tbl.c[n] for n in names]
        held = {
            tuple(r)
            for r in self.conn.execute(
                select(*cols).where(tbl.c.deployment.in_({r["deployment"] for r in rows}))
            )
        }
        new = []
        for r in rows:
            key = tuple(r[n] for n in names)
            if key not in held:
                held.add(key)
                new.append(r)
        self._insert(table, new)
        self._count(table, len(new), len(rows) - len(new))

    def _notifications(self, rows: list[dict[str, Any]]) -> None:
        self._monitoring("notifications", rows)

    def _probe_results(self, rows: list[dict[str, Any]]) -> None:
        self._monitoring("probe_results", rows)

    def _runs(self, rows: list[dict[str, Any]]) -> None:
        self._monitoring("runs", rows)

    # ------------------------------------------------------------ the end

    def finish(self) -> RestoreSummary:
        self.flush()
        if self.only is not None and not self.selected:
            raise NotFoundError(
                f"the backup holds no identity named {self.only!r}; nothing was restored",
                "`ccapki backup verify FILE` lists the identities it holds",
            )
        holders = sorted({d for d, _ in self.selected})
        if self.only is not None and self.only_deployment is None and len(holders) > 1:
            raise InputError(
                f"the backup holds {self.only!r} in {len(holders)} deployments "
                f"({', '.join(holders)}); nothing was restored",
                f"say which: `ccapki --deployment {holders[0]} backup restore FILE "
                f"--identity {self.only}`",
            )
        if self.repair_only:
            labels = [_label(*k) for k in sorted(self.repair_only)]
            # --identity: a key of that identity repaired; a full restore: any key (its
            # other identities restored, those the store holds newer left as they are)
            if self.repaired_only if self.only is not None else self.summary.repaired:
                self.summary.repair_only += labels
            else:  # nothing to repair: the newer data is refused as ever
                self.conflicts += [f"{_label(*k)} ({why})" for k, why in self.repair_only.items()]
                self.clashes += sum(why.startswith("another") for why in self.repair_only.values())
        if self.conflicts:
            shown = "; ".join(self.conflicts[:5])
            more = f" and {len(self.conflicts) - 5} more" if len(self.conflicts) > 5 else ""
            if self.clashes == len(self.conflicts):
                # no identity is newer in the store: its versions are other certificates
                # (a backup of another store, or of this one before it was made again)
                raise InputError(
                    f"the store and the backup hold different certificates at the same "
                    f"versions for {len(self.conflicts)} "
                    f"identit{'y' if len(self.conflicts) == 1 else 'ies'}: {shown}{more} "
                    "(a backup of another store, or of this one before it was made "
                    "again); nothing was restored",
                    "check it is this store's backup (`ccapki backup verify FILE` lists "
                    "what it holds); to add its certificates as new versions anyway, give "
                    "--force (the store's versions stay in its history), or restore others "
                    "one by one with --identity NAME",
                )
            raise InputError(
                f"the store holds newer data than the backup for {len(self.conflicts)} "
                f"identit{'y' if len(self.conflicts) == 1 else 'ies'}: {shown}{more}; "
                "nothing was restored",
                "give --force to make the backup's certificates current (added as new "
                "versions; the store's versions stay in its history), or restore others "
                "one by one with --identity NAME",
            )
        self._settle_keys()
        if self.only is not None:
            self._only_files()
        return self.summary

    def _only_files(self) -> None:
        """``--identity``: the deployment an identity restored belongs to, when the store
        holds no file of it, gets the backup's newest file of it (an identity restored
        into a new store is then exported, kitted and renewed as in the store it came
        from, instead of "the store holds no deployment yet"); a store's own file of that
        deployment is kept as it is."""
        wanted = {d for d, _ in self.selected} - {d for d, _ in self.repair_only}
        if not wanted:
            return
        d = t.deployments.c
        held = {r.name for r in self.conn.execute(select(d.name).where(d.name.in_(wanted)))}
        new = [self.only_files[n] for n in sorted(wanted - held) if n in self.only_files]
        self._insert("deployments", new)
        if new:
            self._count("deployments", len(new), 0)

    def _settle_keys(self) -> None:
        """On identities merged onto the store's versions: the newest version's key is
        active, the earlier versions' active keys (held by no current version) superseded."""
        touched = sorted(self.touched)
        c = t.certificates.c
        for i in range(0, len(touched), _BATCH):
            part = touched[i : i + _BATCH]
            versions: dict[tuple[str, str], list[tuple[int, str]]] = {}
            q = select(c.deployment, c.identity, c.version, c.spki).where(
                tuple_(c.deployment, c.identity).in_(part)
            )
            for r in self.conn.execute(q):
                versions.setdefault((r.deployment, r.identity), []).append((r.version, r.spki))
            current = {max(v)[1] for v in versions.values()}
            older = {s for v in versions.values() for _, s in v} - current
            k = t.keys.c
            self.conn.execute(
                update(t.keys)
                .where(k.fingerprint.in_(current))
                .where(k.state != KeyState.CA.value)
                .values(state=KeyState.ACTIVE.value)
            )
            if older:
                latest = (
                    select(c.deployment, c.identity, func.max(c.version).label("v"))
                    .group_by(c.deployment, c.identity)
                    .subquery()
                )
                held = {
                    r[0]
                    for r in self.conn.execute(
                        select(c.spki)
                        .join(
                            latest,
                            (c.deployment == latest.c.deployment)
                            & (c.identity == latest.c.identity)
                            & (c.version == latest.c.v),
                        )
                        .where(c.spki.in_(older))
                    )
                }
                self.conn.execute(
                    update(t.keys)
                    .where(k.fingerprint.in_(older - held))
                    .where(k.state == KeyState.ACTIVE.value)
                    .values(state=KeyState.SUPERSEDED.value)
                )


def restore_backup(
    store: Store,
    reader: BackupReader,
    *,
    identity: str | None = None,
    force: bool = False,
    source: str = "<backup>",
    deployment: str | None = None,
) -> RestoreSummary:
    """Restore ``reader``'s backup into ``store`` (empty or not) in one transaction.

    ``identity``: only that identity (every version, its keys, pending CSR keys and CSRs,
    the CAs of its chains and their keys, and its deployment's newest file when the store
    holds no file of that deployment). An identity the store holds newer data for
    (without ``force``) is held back: only its keys whose sealed bytes no longer open are
    sealed again from the backup's copies (``repair_only``; its certificates, CSRs and ACME
    orders are left as they are), and the newer data is refused only when no key was
    damaged (with ``identity``: none of its keys; a full restore: none at all, else every
    other identity is restored as ever). Rows the store holds already are
    kept (a damaged key repaired); keys are re-sealed under the store's keyring. Raises
    :class:`InputError` when the store holds newer data (see the module's docstring)
    unless ``force``, or when the backup holds
    ``identity`` in several deployments and ``deployment`` does not say which;
    :class:`NotFoundError` for an ``identity`` the backup does not hold; and what the
    reader raises for a damaged or truncated archive; in every case nothing is written.
    """
    store.unlock()  # the target store's passphrase before anything is read or written
    with store.transaction() as conn:
        adopt = _check_origin(store, conn, reader.header, force)
        r = _Restorer(store, conn, reader.header, identity, force, deployment)
        for rec in reader.records():
            r.add(rec)
        summary = r.finish()
        theirs = backup_store_id(reader.header)
        if adopt and theirs is not None:  # an empty store restored whole: it is that store
            conn.execute(update(t.meta).where(t.meta.c.key == STORE_ID_KEY).values(value=theirs))
        store.audit.record(
            "backup-restore",
            source,
            identity=identity,
            force=force,
            backup_created_at=reader.header.created_at.isoformat(),
            added=summary.added,
            identities=len(summary.identities),
            forced=summary.forced,
            **({"repaired": summary.repaired} if summary.repaired else {}),
            **({"repair_only": summary.repair_only} if summary.repair_only else {}),
        )
    return summary


# ---------------------------------------------------------------------------- recovery kit


@dataclass(frozen=True)
class KitFile:
    """One file of a recovery kit (``private``: holds the key, written 0600)."""

    name: str
    data: bytes = field(repr=False)
    private: bool = False
    what: str = ""


@dataclass(frozen=True)
class RecoveryKit:
    """What an administrator needs to rebuild one appliance (or HA pair) by hand."""

    identity: str
    appliances: tuple[str, ...]
    version: int
    not_after: dt.datetime
    files: tuple[KitFile, ...]


# the pages of the CCA GUIs, in the FAQ's words: the trust stores' paths are the ones every
# trust command prints (trust.CAM_TRUST_PATH / CAS_TRUST_PATH), the certificate's beside them
_CAS_CONSOLE = " (the CAS direct access console, https://HOST/admin)"
_CERT_PAGE = {
    Role.CAM: CAM_TRUST_PATH.replace("Trusted Certificate Authorities", "x509 Certificate"),
    Role.CAS: CAS_TRUST_PATH.replace("Trusted Certificate Authorities", "x509 Certificate")
    + _CAS_CONSOLE,
}
_TRUST_PAGE = {Role.CAM: CAM_TRUST_PATH, Role.CAS: CAS_TRUST_PATH + _CAS_CONSOLE}


def recovery_kit(store: Store, dep: Deployment, name: str, password: bytes) -> RecoveryKit:
    """The files to rebuild appliance or identity ``name`` by hand: its PEM upload bundle
    (certificate, chain, key), an encrypted PKCS#12, the roots its trust store must hold
    (and any other CA the store records in it), and README.txt with the GUI steps in
    order. Raises :class:`NotFoundError` for an unknown name or an identity with no
    certificate yet."""
    from ccapki.lifecycle.exports import export_identity
    from ccapki.lifecycle.trustops import load_inventory, required_trust

    spec = dep.identity(name)
    bundle = export_identity(store, spec.name, "pem-bundle")
    p12 = export_identity(store, spec.name, "pkcs12", password=password)
    need = required_trust(load_inventory(store, dep))
    roots: dict[str, tuple[x509.Certificate, str]] = {}
    for m in spec.members:
        for cert in need.get(m.name, []):
            roots.setdefault(fingerprint(cert), (cert, "required by ccapki's trust plan"))
    for m in spec.members:
        for entry in store.trust.entries(m.name):
            roots.setdefault(
                entry.fingerprint, (entry.certificate, f"recorded in {m.name}'s trust store")
            )
    upload, p12_name = _kit_key_files(spec.name)
    files = [
        KitFile(upload, bundle.data, True, "certificate + chain + key (PEM)"),
        KitFile(p12_name, p12.data, True, "the same, as a password-protected PKCS#12"),
    ]
    root_files: list[tuple[str, x509.Certificate, str]] = []
    for i, (cert, why) in enumerate(roots.values(), start=1):
        fname = f"trusted-ca-{i}.pem"  # _KIT_ROOT matches it
        root_files.append((fname, cert, why))
        files.append(
            KitFile(fname, cert.public_bytes(serialization.Encoding.PEM), False, display_name(cert))
        )
    ident = store.identities.get(spec.name)
    assert ident is not None  # export_identity found it
    readme = _readme(spec, ident.certificate, files[0].name, files[1].name, root_files)
    files.append(KitFile(_KIT_README, readme.encode(), False, "the steps, in order"))
    return RecoveryKit(
        spec.name,
        tuple(m.name for m in spec.members),
        bundle.version,
        bundle.not_after,
        tuple(files),
    )


def _readme(
    spec: IdentitySpec,
    cert: x509.Certificate,
    bundle: str,
    p12: str,
    roots: Sequence[tuple[str, x509.Certificate, str]],
) -> str:
    """README.txt of a recovery kit: the CCA GUI steps in order, naming the kit's files."""
    name, role = spec.name, spec.role
    kind = "CAM" if role is Role.CAM else "CAS"
    members = spec.members
    lines = [  # the first line names the kit's identity (_readme_identity reads it)
        f"Recovery kit for {name} ({kind}{', HA pair' if spec.ha else ''}), made by ccapki",
        "",
        f"Certificate: {cert.subject.rfc4514_string()}",
        f"  SHA-256 {fingerprint(cert)}",
        f"  valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        "",
        "Files:",
        f"  {bundle}  certificate, its chain and the private key (PEM, unencrypted: keep it",
        "      safe and delete it once uploaded)",
        f"  {p12}  the same in one PKCS#12 file, encrypted with the password you gave",
    ]
    for fname, c, why in roots:
        lines.append(f"  {fname}  {display_name(c)} ({why})")
    lines += ["  README.txt  these steps", "", "Steps, in this order:", ""]
    step = 1
    for i, m in enumerate(members):
        # an appliance known by its address alone: that address once
        said = [*([m.hostname] if m.hostname else []), *([str(m.ips[0])] if m.ips else [])]
        who = f"{m.name} ({', '.join(said)})"
        if i == 0:
            host = str(m.ips[0]) if m.ips else m.host
            # the trusted CAs first, as apply and renew order it: once the certificate is
            # in service, the other side's CA is there to trust
            if roots:
                names = ", ".join(f for f, _, _ in roots)
                lines.append(f"{step}. On {who}, open {_TRUST_PAGE[role].replace('HOST', host)}.")
                lines.append(
                    f"   Import each trusted CA: {names}. Without them the "
                    + (
                        "CAS cannot form its SSL session with the CAM"
                        if role is Role.CAS
                        else "CAM cannot form its SSL session with its CASes"
                    )
                    + (" and the HA heartbeat (IPsec) cannot come up" if spec.ha else "")
                    + "."
                )
            else:
                lines.append(
                    f"{step}. Trusted CAs: ccapki's plan needs none on {m.name}; leave "
                    f"{_TRUST_PAGE[role].replace('HOST', host)} as it is."
                )
            step += 1
            page = _CERT_PAGE[role].replace("HOST", host)
            lines.append(f"{step}. On {who}, open {page}.")
            lines.append(
                f"   Import the certificate and its private key: upload {bundle} (it holds the "
                "certificate, the chain and the key in one file, as the FAQ advises: "
                '"combine the certificate and the private key in a single file and upload '
                'that"). Where the page asks for a PKCS#12 file, give ' + p12 + " and its "
                "password."
            )
            step += 1
        else:
            lines.append(
                f"{step}. HA pair: on the secondary, {who}, repeat steps 1 and 2 with the SAME "
                f"files (the trusted CAs, and {bundle} or {p12}): both peers of an HA pair "
                "hold one certificate and key (the FAQ: install the same certificate on both "
                "devices in the pair)."
            )
            step += 1
    lines.append(
        f"{step}. Restart the {kind} services (or reboot) so the new certificate is used"
        + (", the primary first, then the secondary" if spec.ha else "")
        + "; then check:"
    )
    # the redirect page (web login) is the CAS's; the CAM serves its management GUI only
    pages = "CAS GUI and the web login page present" if role is Role.CAS else "CAM GUI presents"
    lines.append(f"   - the {pages} the new certificate (browser padlock);")
    if spec.ha:
        lines.append(
            f"   - `ccapki check-ha {name} --primary FILE --secondary FILE` with the bundles "
            "taken off both peers: one identity, fit for the heartbeat;"
        )
    lines.append(
        "   - `ccapki trust check` (offline) and `ccapki verify --live` (real handshakes): "
        "the CAM and the CASes trust each other again."
    )
    lines += [
        "",
        "The CAM snapshot does not back up certificates or private keys (the FAQ): keep this",
        "kit, or a `ccapki backup create` archive, in a safe place.",
        "",
    ]
    return "\n".join(lines)


#: the README.txt of a recovery kit, and the trusted-ca-N.pem files of its roots
_KIT_README = "README.txt"
_KIT_ROOT = re.compile(r"trusted-ca-[1-9][0-9]*\.pem")
#: the first line of a kit's README.txt, naming its identity (see _readme)
_KIT_README_HEAD = re.compile(r"Recovery kit for (\S+) \(")
#: the key files of some identity's kit: (identity, upload bundle or PKCS#12)
_KIT_KEY_FILE = re.compile(r"(.+)(-upload\.pem|\.p12)")


def _kit_key_files(identity: str) -> tuple[str, str]:
    """The names of the key files of ``identity``'s kit: the PEM upload bundle and the
    PKCS#12."""
    return f"{identity}-upload.pem", f"{identity}.p12"


def _readme_identity(path: Path) -> str | None:
    """The identity whose kit the README.txt at ``path`` is, by its first line; None
    when it is no kit's README (or cannot be read)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    found = _KIT_README_HEAD.match(head.decode("utf-8", "replace"))
    return found[1] if found else None


def check_kit_folder(out: str | os.PathLike[str], identity: str) -> list[str]:
    """Refuse the ``--out`` folder of ``identity``'s recovery kit, before anything is done,
    when it holds anything but a kit of ``identity`` written before: another identity's
    kit (its README.txt or its key files say so), or any other file or folder. Such a
    folder would end up describing no one appliance (the README and trusted-ca-N.pem of
    one kit over another's bundles). A missing or empty folder, or ``identity``'s own kit
    (replaced in place), passes; ccapki's own temporary files are not counted. A kit
    file's name taken by a folder, a device or a link is refused as writing it would be.
    Returns the names of the trusted-ca-N.pem files the folder holds (an earlier kit's);
    raises :class:`InputError`."""
    from ccapki.fsutil import cannot_write, check_output_file, is_temp_name

    folder = Path(out)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):  # made later; check_output_folder's
        return []
    except OSError as exc:
        raise cannot_write(
            folder,
            f"{folder} cannot be listed: {exc.strerror or type(exc).__name__}",
            "choose an --out folder you can read and write to",
        ) from None
    own = {*_kit_key_files(identity), _KIT_README}
    others: set[str] = set()  # identities whose kit the folder holds
    foreign: list[str] = []  # files of no kit
    kit_files: list[str] = []
    roots: list[str] = []
    mine = False  # a file says it is identity's kit
    key_files: collections.Counter[str] = collections.Counter()
    for e in entries:
        name = e.name
        if is_temp_name(name):
            continue
        if name not in own and not _KIT_ROOT.fullmatch(name):
            key_file = _KIT_KEY_FILE.fullmatch(name)
            if key_file is not None:
                key_files[key_file[1]] += 1
            foreign.append(name)
            continue
        kit_files.append(name)
        if _KIT_ROOT.fullmatch(name):
            roots.append(name)
        elif name != _KIT_README:
            mine = True
        elif e.is_file(follow_symlinks=False):  # else refused below, as a write would be
            who = _readme_identity(folder / name)
            if who == identity:
                mine = True
            elif who is not None:
                others.add(who)
            else:
                foreign.append(name)
    # another identity's kit by its two key files (one alone may be any .p12)
    others.update(who for who, n in key_files.items() if n == 2)
    hint = (
        f"choose another --out folder (one kit per folder, e.g. --out kit-{identity}), or "
        f"move those files out of {folder} first"
    )
    if others:
        kits = ", ".join(sorted(others))
        raise cannot_write(
            folder, f"{folder} holds the recovery kit of {kits}, not of {identity}", hint
        )
    if not mine:  # trusted-ca-N.pem alone: no kit of identity's
        foreign += roots
    if foreign:
        shown = ", ".join(sorted(foreign)[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise cannot_write(
            folder,
            f"{folder} holds files that are not a recovery kit of {identity}: {shown}{more}",
            hint,
        )
    for name in kit_files:
        check_output_file(folder / name)
    return roots


def write_recovery_kit(
    store: Store, kit: RecoveryKit, out: str | os.PathLike[str]
) -> list[tuple[str, KitFile]]:
    """Write the kit's files into the folder ``out`` (made 0700 if missing, its missing
    parents at most 0755; key files 0600) all or nothing, and log ``backup-appliance``
    (and a ``key-export`` per key file) in the audit log in the same transaction. The
    folder must be empty or hold an earlier kit of the same identity
    (:func:`check_kit_folder`). Every file goes to a temporary file first and they
    replace the folder's files only once all are written: a failure (a full disk, a file
    that cannot be replaced) leaves a kit written before exactly as it was, logs nothing,
    and removes the folders this call made. Once the kit is written, the earlier kit's
    trusted-ca-N.pem files the new one does not hold are removed. Returns each file's
    path and what it is; raises :class:`InputError` for what cannot be written."""
    from ccapki.fsutil import atomic_write_all, cannot_write, check_output_folder, make_folders

    folder = Path(out)
    check_output_folder(folder)
    held = check_kit_folder(folder, kit.identity)
    stale = sorted(set(held) - {f.name for f in kit.files})
    try:
        made = make_folders(folder, private=True)
    except OSError as exc:
        raise cannot_write(
            folder,
            exc.strerror or type(exc).__name__,
            "choose an --out folder you can write to",
        ) from None
    paths = [(folder / f.name).resolve() for f in kit.files]
    try:
        with store.transaction():
            for path, f in zip(paths, kit.files, strict=True):
                if f.private:
                    store.audit.record(
                        "key-export",
                        kit.identity,
                        format="pkcs12" if f.name.endswith(".p12") else "pem-bundle",
                        path=str(path),
                        version=kit.version,
                        encrypted=f.name.endswith(".p12"),
                        for_peer=False,
                    )
            store.audit.record(
                "backup-appliance",
                kit.identity,
                folder=str(folder.resolve()),
                files=[f.name for f in kit.files],
                version=kit.version,
                **({"removed": stale} if stale else {}),
            )
            # last, before the commit: files that cannot be written log nothing
            atomic_write_all(
                [(p, f.data) for p, f in zip(paths, kit.files, strict=True)],
                private=[f.private for f in kit.files],
            )
    except BaseException:
        for made_folder in made:  # innermost first, only when empty: nothing is left
            with contextlib.suppress(OSError):
                made_folder.rmdir()
        raise
    for name in stale:  # the earlier kit's roots the new kit does not hold
        gone = folder / name
        try:
            gone.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            import shlex

            raise InputError(
                f"{gone}: cannot remove this file of the kit written before "
                f"({exc.strerror or type(exc).__name__}); the new kit was written, and its "
                f"{_KIT_README} does not name it",
                f"remove it by hand (`rm {shlex.quote(str(gone))}`)",
            ) from None
    return [(str(p), f) for p, f in zip(paths, kit.files, strict=True)]
