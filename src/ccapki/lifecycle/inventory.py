"""The inventory one page at a time: a deployment's identities by expiry, for the service.

:func:`inventory_page` reads one page of the current identities (the newest version of
each) ordered by ``not_after`` then name, with keyset paging: the page's cursor names the
last row shown, and the next page starts after it in the same order, so a page costs the
same whatever its position (no OFFSET scan) and a write between two pages neither repeats
nor skips a row that was there before. Only the certificates-table columns a row shows are
read, and the page's stored certificates hashed (no certificate parsed but one whose
identity the deployment file has given other names since: as ``ccapki status``, which
reports a damaged one and one lacking names). Identities the deployment file plans that hold no
certificate yet (stage ``missing``) come after every certificate, by name.

:func:`store_revision` is a cheap fingerprint of everything a status report reads: a
cache keyed by it (and by the clock's minute) answers again until a write lands.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ccapki.errors import InputError
from ccapki.lifecycle.cursors import bad_cursor as _bad_cursor
from ccapki.lifecycle.cursors import cursor_strings, cursor_time, opaque_cursor
from ccapki.lifecycle.status import (
    DeploymentFacts,
    Settings,
    StatusItem,
    TrustFact,
    adopted_of,
    awaited_csrs,
    deployment_items,
    names_missing,
    read_settings,
    stored_damage,
)
from ccapki.store.identities import CurrentFact

if TYPE_CHECKING:
    from sqlalchemy import Select

    from ccapki.store.session import Store

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "InventoryPage",
    "decode_cursor",
    "encode_cursor",
    "inventory_page",
    "store_revision",
]

#: Rows per page when the caller names no limit.
DEFAULT_LIMIT = 100
#: The most rows one page may hold.
MAX_LIMIT = 1000

#: A cursor: ("c", not_after ISO 8601, identity) after a certificate row, ("m", "", name)
#: after a missing identity.
Cursor = tuple[str, str, str]


@dataclass(frozen=True)
class InventoryPage:
    """One page of a deployment's inventory.

    ``items``: identity items (:class:`~ccapki.lifecycle.status.StatusItem`, ``served``
    left empty). ``total``: every identity of the deployment (with a certificate or
    missing). ``next_cursor``: where the next page starts (None: this is the last page).
    """

    deployment: str
    items: tuple[StatusItem, ...]
    total: int
    limit: int
    next_cursor: str | None


def encode_cursor(cursor: Cursor) -> str:
    """The opaque text form of a cursor (URL-safe base64 of JSON). Raises nothing."""
    return opaque_cursor(cursor)


def decode_cursor(text: str) -> Cursor:
    """The cursor :func:`encode_cursor` made. Raises :class:`InputError` for anything
    else."""
    kind, when, name = cursor_strings(text, 3)
    if kind not in ("c", "m") or not name:
        raise _bad_cursor(text)
    if kind == "c":
        cursor_time(text, when)
    return (kind, when, name)


# ---------------------------------------------------------------------------- reads


def _page_query(after: bool, sqlite: bool) -> Select[tuple[Any, ...]]:
    """The page's statement (bound: ``dep``, ``lim``; with ``after``: ``when``, ``name``):
    the newest version of each identity (an index probe per row on the unique (deployment,
    identity, version)), walked in the order of the index on (deployment, not_after,
    identity, version)."""
    from sqlalchemy import String, and_, bindparam, exists, or_, select, tuple_

    from ccapki.store import schema as t

    c_ = t.certificates.c
    newer = t.certificates.alias("newer")
    q = select(
        c_.identity,
        c_.version,
        c_.fingerprint,
        c_.spki,
        c_.not_after,
        c_.source,
        c_.created_at,
        c_.not_before,
    ).where(
        c_.deployment == bindparam("dep"),
        ~exists().where(
            (newer.c.deployment == c_.deployment)
            & (newer.c.identity == c_.identity)
            & (newer.c.version > c_.version)
        ),
    )
    if after:
        when = bindparam("when", type_=t.UTCDateTime())
        name = bindparam("name", type_=String())
        q = q.where(
            or_(c_.not_after > when, and_(c_.not_after == when, c_.identity > name))
            if sqlite  # SQLite compares row values too, but uses the index only so
            else tuple_(c_.not_after, c_.identity) > tuple_(when, name)
        )
    return q.order_by(c_.not_after, c_.identity).limit(bindparam("lim"))


@functools.cache
def _query(after: bool, sqlite: bool) -> Select[tuple[Any, ...]]:
    """:func:`_page_query`, built once (when first asked: a command that only reads the
    revision loads no SQLAlchemy)."""
    return _page_query(after, sqlite)


#: :func:`store_revision`'s one query (SQL text, see Store.rows): newest id and row count
#: of each table a status report reads, and of the audit log.
_REVISION = (
    "SELECT (SELECT max(id) FROM audit), (SELECT count(*) FROM audit), "
    "(SELECT max(id) FROM certificates), (SELECT count(*) FROM certificates), "
    "(SELECT max(id) FROM cas), (SELECT count(*) FROM cas), "
    "(SELECT max(id) FROM csrs), (SELECT count(*) FROM csrs), "
    "(SELECT max(id) FROM keys), (SELECT count(*) FROM keys), "
    "(SELECT max(id) FROM trust_entries), (SELECT count(*) FROM trust_entries), "
    "(SELECT max(id) FROM probe_results), (SELECT count(*) FROM probe_results), "
    "(SELECT max(id) FROM deployments), (SELECT count(*) FROM deployments)"
)


def _page_rows(
    store: Store, deployment: str, limit: int, after: Cursor | None
) -> list[CurrentFact]:
    q = _query(after is not None, store.engine.dialect.name == "sqlite")
    params: dict[str, object] = {"dep": deployment, "lim": limit}
    if after is not None:
        params["when"] = dt.datetime.fromisoformat(after[1]).astimezone(dt.UTC)
        params["name"] = after[2]
    with store.connection() as c:
        return [CurrentFact(*r) for r in c.execute(q, params)]


@dataclass(frozen=True)
class _Kept:
    """What a deployment's pages share, as of ``key`` (its certificates' count and newest
    id, its newest file's id)."""

    key: tuple[object, ...]
    settings: Settings
    missing: tuple[str, ...]
    held: int


#: (database URL, deployment) -> what its pages share, kept until the deployment's
#: certificates or file change.
_KEPT: dict[tuple[str, str], _Kept] = {}
_KEPT_LOCK = threading.Lock()


def _shared(store: Store, deployment: str) -> _Kept:
    """The deployment's settings (from its newest file), the identities it plans without
    a certificate (by name), and how many hold one: read again only when its certificates
    or its file changed (two index reads tell). Raises
    :class:`~ccapki.errors.NotFoundError` for a deployment the store does not hold."""
    from sqlalchemy import func, select

    from ccapki.store import schema as t

    c_ = t.certificates.c
    d = t.deployments.c
    slot = (str(store.engine.url), deployment)
    with store.connection() as c:
        count, newest = c.execute(
            select(func.count(c_.id), func.max(c_.id)).where(c_.deployment == deployment)
        ).one()
        file_id = c.execute(select(func.max(d.id)).where(d.name == deployment)).scalar()
        key = (count, newest, file_id)
        with _KEPT_LOCK:
            kept = _KEPT.get(slot)
        if kept is not None and kept.key == key:
            return kept
        if file_id is None and not count:
            store.use(deployment)  # NotFoundError unless it holds keys, CAs or trust
        row = None
        if file_id is not None:
            row = c.execute(select(d.source_text, d.path, d.facts).where(d.id == file_id)).one()
        held = {
            str(r[0])
            for r in c.execute(select(c_.identity).where(c_.deployment == deployment).distinct())
        }
    conf = (
        read_settings(row.source_text, row.path or "<stored deployment>", row.facts)
        if row
        else Settings()
    )
    missing = tuple(sorted(n for n in conf.identities if n not in held))
    found = _Kept(key, conf, missing, len(held))
    with _KEPT_LOCK:
        if len(_KEPT) >= 32:
            _KEPT.clear()
        _KEPT[slot] = found
    return found


def _note_facts(store: Store, deployment: str, rows: list[CurrentFact]) -> dict[str, Any]:
    """What :func:`~ccapki.lifecycle.status.deployment_items` words the notes of these
    rows from, as :func:`~ccapki.lifecycle.status.read_facts` reads it for the whole
    deployment: the CSRs of these identities awaiting the CA (``csrs``), those whose
    certificate was adopted (``adopted``), and the trust-store entries holding their own
    certificates (``trust``: a true self-signed identity, also its peers' root). Reads
    only."""
    if not rows:
        return {}
    current = {f.identity: f for f in rows}
    with store.scoped(deployment):
        csrs = awaited_csrs(store, store.deployments.latest, current, only=current)
        adopted = adopted_of(store, rows)
        ends = {f.fingerprint: f.not_after for f in rows}
        fps = sorted(ends)
        trust = tuple(
            TrustFact(str(a), str(label), str(fp), ends[str(fp)])
            for i in range(0, len(fps), 500)  # a page holds up to 1,000
            for a, label, fp in store.rows(
                "SELECT appliance, label, fingerprint FROM trust_entries WHERE deployment = :d "
                "AND removed_at IS NULL AND fingerprint IN :fps ORDER BY id",
                {"d": deployment, "fps": fps[i : i + 500]},
            )
        )
    return {"csrs": csrs, "adopted": adopted, "trust": trust}


def _planned_of(planned: Mapping[str, str], rows: list[CurrentFact]) -> dict[str, str]:
    """What the deployment file plans (identity -> source), as a page's facts need it:
    the page's rows (an ACME identity's notes, one the file no longer names: unused), not
    the whole file (status would list every other planned identity as missing, each
    left out again: 0.1 s a page of 10,000). When the file names none of the rows, one
    identity it names (another page's, left out) says that it names others."""
    page = {f.identity: planned[f.identity] for f in rows if f.identity in planned}
    if not page and rows and planned:
        other = next(iter(planned))
        page[other] = planned[other]
    return page


def inventory_page(
    store: Store,
    deployment: str,
    *,
    now: dt.datetime,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> InventoryPage:
    """One page of deployment ``deployment``'s identities at ``now``: at most ``limit``
    of them after ``cursor`` (None: from the first), by ``not_after`` then name, each with
    its days left and stage as ``ccapki status`` gives them; then those the deployment
    file plans without a certificate yet. Reads only.

    Returns an :class:`InventoryPage`. Raises :class:`InputError` for a limit outside
    1..:data:`MAX_LIMIT` or a cursor this function did not make,
    :class:`~ccapki.errors.NotFoundError` for a deployment the store does not hold,
    :class:`~ccapki.errors.DeploymentError` when its stored file no longer parses.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit={limit}", f"give a limit from 1 to {MAX_LIMIT}")
    after = decode_cursor(cursor) if cursor is not None else None
    view = store.fork(deployment=None)
    shared = _shared(view, deployment)
    conf, missing, held = shared.settings, shared.missing, shared.held
    rows: list[CurrentFact] = []
    more_rows = False
    if after is None or after[0] == "c":
        rows = _page_rows(view, deployment, limit + 1, after)
        more_rows = len(rows) > limit
        del rows[limit:]
    facts = DeploymentFacts(
        name=deployment,
        warn_days=conf.warn_days,
        release=conf.release,
        temporary_days=conf.temporary_days,
        identities=tuple(rows),
        appliances=conf.appliances,
        # the page's rows judged as status judges them: a stored certificate damaged, a
        # certificate lacking names the file gives (each read for this page's rows only)
        damaged=stored_damage(view, deployment, rows),
        unfit=names_missing(view, deployment, rows, conf.appliances),
        # and noted as status notes them (each read for this page's rows only): the CSRs
        # awaiting the CA, the adopted (temporary) certificates, where a true self-signed
        # one is trusted, what the file plans (an ACME identity, one it no longer names)
        **_note_facts(view, deployment, rows),
        planned=_planned_of(conf.identities, rows),
    )
    shown = {f.identity for f in rows}  # the file's other identities: other pages
    items = [i for i in deployment_items(facts, now) if i.kind == "identity" and i.name in shown]
    items.sort(key=lambda i: (i.not_after or now, i.name))  # the query's order
    room = limit - len(items)
    if room > 0:
        start = 0
        if after is not None and after[0] == "m":
            start = next((k for k, n in enumerate(missing) if n > after[2]), len(missing))
        planned = DeploymentFacts(
            name=deployment,
            warn_days=conf.warn_days,
            planned={n: conf.identities[n] for n in missing[start : start + room]},
        )
        items += sorted(deployment_items(planned, now), key=lambda i: i.name)
    nxt: str | None = None
    if len(items) == limit:
        last = items[-1]
        if last.not_after is not None:
            if more_rows or missing:
                nxt = encode_cursor(("c", last.not_after.astimezone(dt.UTC).isoformat(), last.name))
        elif last.name != missing[-1]:
            nxt = encode_cursor(("m", "", last.name))
    return InventoryPage(deployment, tuple(items), held + len(missing), limit, nxt)


# ---------------------------------------------------------------------------- revision


def store_revision(store: Store) -> tuple[int, ...]:
    """A fingerprint of what a status report reads, from one cheap query: the newest id
    and the row count of the audit log and of every table status reads (certificates,
    CAs, CSRs, keys, trust-store entries, probe results, deployment files). Any insert
    changes it, and so does any change the store audits (trust-store pruning, key state
    changes come with an audit row); a count also catches a row committed late with a
    lower id (PostgreSQL sequences). Returns the tuple; raises
    :class:`~ccapki.errors.StoreError` for an unusable store.
    """
    row = store.rows(_REVISION)[0]
    return tuple(int(v or 0) for v in row)
