"""The appliances' trust stores ("Trusted Certificate Authorities"); removals are marked,
never deleted."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ccapki.store.records import TrustEntry, pem_text

if TYPE_CHECKING:
    import datetime as dt

    from cryptography import x509
    from sqlalchemy import ColumnElement

    from ccapki.store.session import Store

__all__ = ["TRUST_PEM", "TrustStoreRepository", "trust_pem"]


#: The PEM of a trust entry, in SQL over ``trust_entries``: its own, or (an empty one, an
#: entry of a CA the store holds: schema 0012) the ``cas`` row's of the same fingerprint;
#: empty when neither is there (read as a damaged entry, as a PEM that does not parse).
TRUST_PEM = (
    "CASE WHEN trust_entries.pem = '' THEN COALESCE((SELECT cas.pem FROM cas "
    "WHERE cas.fingerprint = trust_entries.fingerprint), '') ELSE trust_entries.pem END"
)


def trust_pem() -> ColumnElement[str]:
    """:data:`TRUST_PEM` in SQLAlchemy's terms (a column expression named ``pem``)."""
    from sqlalchemy import case, func, select

    from ccapki.store import schema as t

    e = t.trust_entries.c
    stored = select(t.cas.c.pem).where(t.cas.c.fingerprint == e.fingerprint).scalar_subquery()
    return case((e.pem == "", func.coalesce(stored, "")), else_=e.pem).label("pem")


#: :meth:`TrustStoreRepository.add_many` names the appliances it reads the entries of
#: up to this many; beyond, it reads the deployment's entries and keeps theirs (an IN of
#: thousands of names costs more to build than the rows cost to read)
_NAMED_AT_MOST = 64


class TrustStoreRepository:
    """``store.trust``: the trust stores of the appliances of the deployment the store
    acts on."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def entries(self, appliance: str) -> builtins.list[TrustEntry]:
        """The appliance's Trusted Certificate Authorities, oldest first."""
        sql = (
            f"SELECT fingerprint, label, {TRUST_PEM} FROM trust_entries "  # noqa: S608
            "WHERE deployment = :dep AND appliance = :appliance AND removed_at IS NULL "
            "ORDER BY id"
        )
        dep = self._s.deployment
        rows = self._s.rows(sql, {"dep": dep, "appliance": appliance})
        return [TrustEntry(fp, label, self._s.parsed(pem), dep) for fp, label, pem in rows]

    def all(self) -> dict[str, builtins.list[x509.Certificate]]:
        """Every appliance's trusted certificates: appliance -> certificates."""
        sql = (
            f"SELECT appliance, {TRUST_PEM} FROM trust_entries "  # noqa: S608
            "WHERE deployment = :dep AND removed_at IS NULL"
        )
        out: dict[str, builtins.list[x509.Certificate]] = {}
        for appliance, pem in self._s.rows(sql, {"dep": self._s.deployment}):
            out.setdefault(appliance, []).append(self._s.parsed(pem))
        return out

    def labelled(self, prefix: str) -> frozenset[tuple[str, str]]:
        """The entries (appliance, fingerprint) whose label starts with ``prefix``."""
        sql = (
            "SELECT appliance, fingerprint, label FROM trust_entries WHERE deployment = :dep "
            "AND removed_at IS NULL"
        )
        rows = self._s.rows(sql, {"dep": self._s.deployment})
        return frozenset((a, fp) for a, fp, label in rows if label.startswith(prefix))

    def add(self, appliance: str, cert: x509.Certificate, label: str) -> bool:
        """Add ``cert`` to the appliance's trust store; False if it is already there."""
        return self.add_many([(appliance, cert, label)])[0]

    def add_many(self, entries: Sequence[tuple[str, x509.Certificate, str]]) -> builtins.list[bool]:
        """Add many (appliance, certificate, label) entries in a few statements.

        Each entry not already in its appliance's store is added and audited; returns, per
        entry, whether it was added.
        """
        if not entries:
            return []
        from sqlalchemy import select

        from ccapki.pki.certs import fingerprint
        from ccapki.store import schema as t
        from ccapki.store.bulk import insert_many

        now = self._s.now()
        fps: dict[int, str] = {}  # most entries repeat a few roots: hash each object once
        rows = [
            (a, fps.get(id(cert)) or fps.setdefault(id(cert), fingerprint(cert)), cert, label)
            for a, cert, label in entries
        ]
        appliances = {a for a, _, _, _ in rows}
        dep = self._s.deployment
        present_q = (
            select(t.trust_entries.c.appliance, t.trust_entries.c.fingerprint)
            .where(t.trust_entries.c.deployment == dep)
            .where(t.trust_entries.c.removed_at.is_(None))
        )
        if len(appliances) <= _NAMED_AT_MOST:
            present_q = present_q.where(t.trust_entries.c.appliance.in_(appliances))
        facts: dict[str, tuple[str, dt.datetime, dt.datetime]] = {}
        added: builtins.list[bool] = []
        inserts: builtins.list[dict[str, object]] = []
        audits: builtins.list[dict[str, object]] = []
        audit = self._s.audit
        details: dict[tuple[str, str], str] = {}
        with self._s.connection() as c:
            present = {
                (r.appliance, r.fingerprint)
                for r in c.execute(present_q)
                if r.appliance in appliances
            }
            # the CAs the store holds: their entries refer to the cas row for the PEM (a
            # bulk apply puts one root in thousands of stores: one copy, not thousands)
            held_cas = {
                fp
                for (fp,) in c.execute(
                    select(t.cas.c.fingerprint).where(
                        t.cas.c.fingerprint.in_({fp for _, fp, _, _ in rows})
                    )
                )
            }
            for appliance, fp, cert, label in rows:
                if (appliance, fp) in present:
                    added.append(False)
                    continue
                present.add((appliance, fp))
                added.append(True)
                # thousands of appliances trust the same few CAs: each one's PEM and
                # validity read once
                known = facts.get(fp)
                if known is None:
                    known = facts[fp] = (
                        "" if fp in held_cas else pem_text(cert),
                        cert.not_valid_after_utc,
                        cert.not_valid_before_utc,
                    )
                pem, not_after, not_before = known
                inserts.append(
                    {
                        "appliance": appliance,
                        "fingerprint": fp,
                        "label": label,
                        "pem": pem,
                        "added_at": now,
                        "deployment": dep,
                        "not_after": not_after,
                        "not_before": not_before,
                    }
                )
                # thousands of appliances trust the same CA under the same label: its
                # details are encoded once
                detail = details.get((fp, label))
                if detail is None:
                    detail = details[fp, label] = audit.encode({"fingerprint": fp, "label": label})
                audits.append(audit.row("trust-add", appliance, {}, now, encoded=detail))
            if inserts:
                insert_many(c, t.trust_entries, inserts)
                insert_many(c, t.audit, audits)
        return added

    def remove(self, appliance: str, fingerprint: str) -> int:
        """Remove entries whose fingerprint starts with ``fingerprint``; returns how many."""
        from sqlalchemy import update

        from ccapki.store import schema as t

        fp = fingerprint.lower().replace(":", "")
        with self._s.connection() as c:
            res = c.execute(
                update(t.trust_entries)
                .where(t.trust_entries.c.deployment == self._s.deployment)
                .where(t.trust_entries.c.appliance == appliance)
                .where(t.trust_entries.c.removed_at.is_(None))
                .where(t.trust_entries.c.fingerprint.startswith(fp))
                .values(removed_at=self._s.now())
            )
        n = int(res.rowcount or 0)
        if n:
            self._s.audit.record("trust-remove", appliance, fingerprint=fp, count=n)
        return n
