"""The audit log (every change and every private-key export) and the deployment files
the store keeps."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from ccapki.store.records import SHARED_CAS, AuditEntry, DeploymentRecord, DeploymentSummary

if TYPE_CHECKING:
    from ccapki.store.session import Store

# (SQLAlchemy and the tables are imported where a method writes, or reads in the query
# builder's terms: the reads a command that only reads makes are SQL text, see Store.rows)

__all__ = ["AuditLog", "DeploymentRepository"]


#: ``json.dumps(detail, default=str, sort_keys=True)``, its encoder made once (``dumps``
#: with options makes one per call: a bulk apply writes an audit row per identity)
_encode = json.JSONEncoder(default=str, sort_keys=True).encode


class AuditLog:
    """``store.audit``: append-only."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def row(
        self,
        action: str,
        subject: str,
        detail: Mapping[str, object],
        at: dt.datetime | None = None,
        *,
        encoded: str | None = None,
    ) -> dict[str, object]:
        """The audit row of ``action`` on ``subject`` (for repositories that insert many in
        one statement): when (``at``, default now), which deployment, who, the details
        (``encoded``: their JSON as :meth:`encode` made it, for details many rows share)."""
        return {
            "at": at or self._s.now(),
            "action": action,
            "subject": subject,
            "detail": _encode(detail) if encoded is None else encoded,
            "deployment": self._s.acting_on,
            "actor": self._s.actor,
        }

    @staticmethod
    def encode(detail: Mapping[str, object]) -> str:
        """``detail`` as the JSON an audit row keeps."""
        return _encode(detail)

    def record(self, action: str, subject: str, **detail: object) -> None:
        """Log ``action`` on ``subject`` with JSON-able details (never key material).

        Outside a transaction it takes the store's write lock as any write does (waiting
        up to :attr:`Store.wait`, then :class:`~ccapki.errors.StoreBusy`): a bare INSERT
        met another writer's lock with SQLite's 5 s busy timeout and "database is locked",
        exit 70, after an export had written its key file.
        """
        from sqlalchemy import insert

        from ccapki.store import schema as t

        with self._s.transaction() as c:
            c.execute(insert(t.audit), self.row(action, subject, detail))

    def log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        with self._s.connection() as c:
            rows = c.execute(select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)).all()
        return [
            AuditEntry(r.at, r.action, r.subject, json.loads(r.detail), r.deployment, r.actor)
            for r in rows
        ]

    def newest_first(self, action: str, *, page: int = 500) -> Iterator[AuditEntry]:
        """Every ``action`` entry of the deployment acted on, newest first, read a page of
        ``page`` rows at a time (stop iterating once the entries are old enough)."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        below: int | None = None
        while True:
            query = (
                select(t.audit)
                .where(t.audit.c.action == action, t.audit.c.deployment == self._s.acting_on)
                .order_by(t.audit.c.id.desc())
                .limit(page)
            )
            if below is not None:
                query = query.where(t.audit.c.id < below)
            with self._s.connection() as c:
                rows = c.execute(query).all()
            for r in rows:
                yield AuditEntry(
                    r.at, r.action, r.subject, json.loads(r.detail), r.deployment, r.actor
                )
            if len(rows) < page:
                return
            below = rows[-1].id


class DeploymentRepository:
    """``store.deployments``: the deployments the store holds, and every version of each
    one's deployment file applied."""

    def __init__(self, store: Store) -> None:
        self._s = store
        self._shares: dict[str, bool] = {}

    def shares_cas(self) -> bool:
        """Whether the deployment the store acts on shares the store's shared CAs
        (``[deployment] ca = "shared"`` in the file it last applied)."""
        import tomllib

        name = self._s.deployment
        if name not in self._shares:
            kept = self.latest()
            shared = _fact(kept.facts, "shared_ca") if kept else False
            if shared is None and kept:  # a file kept before its facts were
                try:
                    header = tomllib.loads(kept.text).get("deployment", {})
                except tomllib.TOMLDecodeError:
                    header = {}
                shared = isinstance(header, dict) and header.get("ca") == "shared"
            self._shares[name] = shared is True
        return self._shares[name]

    def names(self) -> list[str]:
        """Every deployment the store holds, sorted: those whose file was applied, and
        those that hold keys, certificates or trust-store entries (e.g. a store made
        before deployments had names)."""
        sql = (
            "SELECT name FROM deployments UNION SELECT DISTINCT deployment FROM keys "
            "UNION SELECT DISTINCT deployment FROM certificates "
            "UNION SELECT DISTINCT deployment FROM trust_entries "
            "UNION SELECT DISTINCT deployment FROM cas"
        )
        return sorted(str(r[0]) for r in self._s.rows(sql) if r[0] != SHARED_CAS)

    def summary(self) -> list[DeploymentSummary]:
        """Each deployment (sorted by name): its identities, when its file was last
        applied and from where."""
        from sqlalchemy import func, select

        from ccapki.store import schema as t

        names = self.names()
        counts_q = select(
            t.certificates.c.deployment, func.count(t.certificates.c.identity.distinct())
        ).group_by(t.certificates.c.deployment)
        last_q = select(
            t.deployments.c.name, t.deployments.c.loaded_at, t.deployments.c.path
        ).order_by(t.deployments.c.id)
        with self._s.connection() as c:
            counts = {str(r[0]): int(r[1]) for r in c.execute(counts_q)}
            last = {r.name: (r.loaded_at, r.path) for r in c.execute(last_q)}  # newest wins
        return [DeploymentSummary(n, counts.get(n, 0), *last.get(n, (None, None))) for n in names]

    def record(
        self,
        name: str,
        text: str,
        path: str | None,
        facts: str | None = None,
        *,
        partial: bool = False,
    ) -> bool:
        """Keep a new version of deployment ``name``'s file if it changed, with ``facts``
        (JSON: what commands read of it). True if it did. An unchanged file kept without
        facts (before schema 0009) gets them, which is not a change.

        ``partial``: ``facts`` are a part of them, which a second call in the same
        transaction completes (a bulk apply's); an unchanged file keeps its facts."""
        from sqlalchemy import insert, select, update

        from ccapki.store import schema as t

        d = t.deployments.c
        with self._s.connection() as c:
            last = c.execute(
                select(d.id, d.source_text, d.facts)
                .where(d.name == name)
                .order_by(d.id.desc())
                .limit(1)
            ).first()
            if last is not None and last.source_text == text:
                if facts is not None and not partial and last.facts != facts:
                    c.execute(update(t.deployments).where(d.id == last.id).values(facts=facts))
                return False
            c.execute(
                insert(t.deployments),
                {
                    "name": name,
                    "source_text": text,
                    "path": path,
                    "loaded_at": self._s.now(),
                    "facts": facts,
                },
            )
        self._shares.pop(name, None)
        self._s.audit.record("deployment", name, path=path)
        return True

    def latest(self) -> DeploymentRecord | None:
        """The latest file kept of the deployment the store acts on, if any."""
        name = self._s.deployment
        sql = (
            "SELECT source_text, path, facts FROM deployments WHERE name = :name "
            "ORDER BY id DESC LIMIT 1"
        )
        for text, path, facts in self._s.rows(sql, {"name": name}):
            return DeploymentRecord(text, path, name, facts)
        return None


def _fact(facts: str | None, key: str) -> object:
    """``key`` of a deployment's facts JSON; None when there are none (or unreadable)."""
    if not facts:
        return None
    try:
        found = json.loads(facts)
    except ValueError:
        return None
    return found.get(key) if isinstance(found, dict) else None
