"""What monitoring keeps: probe results (``store.probes``), notifications sent
(``store.notices``) and runs of probe and watch (``store.runs``)."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ccapki.store.records import NoticeRecord, ProbeRecord, ProbeVerdict, RunRecord, stored_time

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from ccapki.store.session import Store

__all__ = ["CLAIM_TTL", "NoticeRepository", "ProbeRepository", "RunRepository"]

#: How long a watcher's claim on a notification holds without being confirmed as sent:
#: longer than any send takes (a webhook or SMTP timeout is 10 s per notice), so a live
#: watcher keeps it, and one killed while sending gives it up to the next run.
CLAIM_TTL = dt.timedelta(minutes=15)


_VERDICTS = {v.value: v for v in ProbeVerdict}


def _columns(chains: bool = True) -> tuple[ColumnElement[Any], ...]:
    """The columns of a :class:`ProbeRecord`, in its fields' order (``chains=False``: the
    presented chain read as NULL: a report over thousands of endpoints never reads it)."""
    from sqlalchemy import null

    from ccapki.store import schema as t

    p = t.probe_results.c
    chain = p.chain_pem if chains else null().label("chain_pem")
    return (
        p.appliance,
        p.kind,
        p.address,
        p.at,
        p.verdict,
        p.reason,
        p.protocol,
        p.leaf_sha256,
        chain,
        p.identity,
        p.version,
        p.latency_ms,
        p.since,
        p.deployment,
    )


def _probe(r: Sequence[Any]) -> ProbeRecord:
    """A row of :func:`_columns` or :data:`_LATEST` as a record (its times as the driver
    gives them: text on SQLite's own reader)."""
    a, k, addr, at, verdict, reason, protocol, leaf, chain, ident, ver, ms, since, dep = r
    return ProbeRecord(
        a,
        k,
        addr,
        stored_time(at),
        _VERDICTS[verdict],
        reason,
        protocol,
        leaf,
        chain,
        ident,
        ver,
        ms,
        None if since is None else stored_time(since),
        dep,
    )


#: The newest result of every endpoint of a deployment, in :func:`_columns`' order (SQL
#: text: a command that only reads reads it without SQLAlchemy, see Store.rows); the
#: presented chain or NULL (a report over thousands of endpoints never reads it).
_LATEST = (
    "SELECT appliance, kind, address, at, verdict, reason, protocol, leaf_sha256, {chain}, "
    "identity, version, latency_ms, since, deployment FROM probe_results "
    "JOIN (SELECT max(id) AS newest FROM probe_results WHERE deployment = :d "
    "GROUP BY appliance, kind) AS latest ON id = latest.newest ORDER BY appliance, kind"
)
_LATEST_CHAINS = _LATEST.format(chain="chain_pem")
_LATEST_NO_CHAINS = _LATEST.format(chain="NULL AS chain_pem")


class ProbeRepository:
    """``store.probes``: every probe result, newest last."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, results: Sequence[ProbeRecord]) -> builtins.list[ProbeRecord]:
        """Keep ``results`` (for the deployment the store acts on) in one transaction and
        return them with ``since`` filled in: the ``since`` of the endpoint's previous
        result when it presented the same certificate, else the result's own time (None
        when nothing was presented)."""
        from sqlalchemy import insert

        from ccapki.store import schema as t

        if not results:
            return []
        out: list[ProbeRecord] = []
        with self._s.transaction() as c:
            # (read inside the transaction, on its connection)
            before = {(p.appliance, p.kind): p for p in self.latest(chains=False)}
            for r in results:
                prev = before.get((r.appliance, r.kind))
                since = None
                if r.leaf_sha256 is not None:
                    same = prev is not None and prev.leaf_sha256 == r.leaf_sha256
                    since = prev.since if same and prev is not None else r.at
                rec = replace(r, since=since, deployment=self._s.deployment)
                out.append(rec)
                before[(r.appliance, r.kind)] = rec
            c.execute(
                insert(t.probe_results),
                [
                    {
                        "deployment": r.deployment,
                        "appliance": r.appliance,
                        "kind": r.kind,
                        "address": r.address,
                        "at": r.at,
                        "verdict": r.verdict.value,
                        "reason": r.reason,
                        "protocol": r.protocol,
                        "leaf_sha256": r.leaf_sha256,
                        "chain_pem": r.chain_pem,
                        "identity": r.identity,
                        "version": r.version,
                        "latency_ms": r.latency_ms,
                        "since": r.since,
                    }
                    for r in out
                ],
            )
        return out

    def latest(self, *, chains: bool = True) -> builtins.list[ProbeRecord]:
        """The newest result of every endpoint of the deployment, by appliance and kind
        (``chains=False``: without what each presented, ``chain_pem`` None)."""
        sql = _LATEST_CHAINS if chains else _LATEST_NO_CHAINS
        return [_probe(r) for r in self._s.rows(sql, {"d": self._s.deployment})]

    def history(
        self, appliance: str | None = None, kind: str | None = None, limit: int = 100
    ) -> builtins.list[ProbeRecord]:
        """The newest ``limit`` results of the deployment (of ``appliance``, ``kind``),
        newest first."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        p = t.probe_results
        q = select(*_columns()).where(p.c.deployment == self._s.deployment)
        if appliance is not None:
            q = q.where(p.c.appliance == appliance)
        if kind is not None:
            q = q.where(p.c.kind == kind)
        with self._s.connection() as c:
            return [_probe(r) for r in c.execute(q.order_by(p.c.id.desc()).limit(limit))]


class NoticeRepository:
    """``store.notices``: the notifications sent, so each goes out once."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def _key(self, subject: str, event: str, stage: str, fingerprint: str) -> ColumnElement[bool]:
        from ccapki.store import schema as t

        n = t.notifications
        return (
            (n.c.deployment == self._s.deployment)
            & (n.c.subject == subject)
            & (n.c.event == event)
            & (n.c.stage == stage)
            & (n.c.fingerprint == fingerprint)
        )

    def claim(
        self,
        subject: str,
        event: str,
        stage: str,
        fingerprint: str,
        channels: Sequence[str],
    ) -> bool:
        """Claim this notification for sending now; False when it went out already, or
        another watcher claimed it less than :data:`CLAIM_TTL` ago (the database's unique
        key decides between processes). Claim, send, then :meth:`confirm`; :meth:`release`
        a claim whose sending failed, so the next run retries. A claim never confirmed (its
        watcher was killed while sending) is taken over once older than :data:`CLAIM_TTL`:
        a notification goes out at least once."""
        from sqlalchemy import insert, update
        from sqlalchemy.exc import IntegrityError

        from ccapki.store import schema as t

        n = t.notifications
        now = self._s.now()
        try:
            with self._s.transaction() as c:
                c.execute(
                    insert(n),
                    {
                        "deployment": self._s.deployment,
                        "subject": subject,
                        "event": event,
                        "stage": stage,
                        "fingerprint": fingerprint,
                        "at": now,
                        "channels": ",".join(channels),
                    },
                )
            return True
        except IntegrityError:
            pass
        with self._s.transaction() as c:  # an abandoned claim is taken over
            taken = c.execute(
                update(n)
                .where(self._key(subject, event, stage, fingerprint))
                .where(n.c.sent_at.is_(None))
                .where(n.c.at < now - CLAIM_TTL)
                .values(at=now, channels=",".join(channels))
            ).rowcount
        return bool(taken)

    def confirm(self, subject: str, event: str, stage: str, fingerprint: str) -> None:
        """The claimed notification went out on every channel."""
        from sqlalchemy import update

        from ccapki.store import schema as t

        with self._s.transaction() as c:
            c.execute(
                update(t.notifications)
                .where(self._key(subject, event, stage, fingerprint))
                .values(sent_at=self._s.now())
            )

    def release(self, subject: str, event: str, stage: str, fingerprint: str) -> None:
        """Forget a claim (its notification could not be sent)."""
        from sqlalchemy import delete

        from ccapki.store import schema as t

        with self._s.transaction() as c:
            c.execute(
                delete(t.notifications)
                .where(self._key(subject, event, stage, fingerprint))
                .where(t.notifications.c.sent_at.is_(None))
            )

    def sent(self, subject: str, event: str, stage: str, fingerprint: str) -> bool:
        """Whether this notification went out already."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        n = t.notifications
        with self._s.connection() as c:
            q = (
                select(n.c.id)
                .where(self._key(subject, event, stage, fingerprint))
                .where(n.c.sent_at.is_not(None))
            )
            return c.execute(q).first() is not None

    def list(self, limit: int = 1000) -> builtins.list[NoticeRecord]:
        """The notifications sent for the deployment, newest first."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        n = t.notifications
        q = (
            select(n)
            .where(n.c.deployment == self._s.deployment)
            .order_by(n.c.id.desc())
            .limit(limit)
        )
        with self._s.connection() as c:
            return [
                NoticeRecord(
                    r.subject,
                    r.event,
                    r.stage,
                    r.fingerprint,
                    r.at,
                    tuple(x for x in r.channels.split(",") if x),
                    r.deployment,
                    r.sent_at,
                )
                for r in c.execute(q)
            ]


class RunRepository:
    """``store.runs``: runs of ``probe`` and ``watch``."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def start(self, kind: str, summary: str = "") -> int:
        """Record that a run of ``kind`` starts now; returns its id."""
        from sqlalchemy import insert

        from ccapki.store import schema as t

        with self._s.transaction() as c:
            res = c.execute(
                insert(t.runs).returning(t.runs.c.id),
                {
                    "deployment": self._s.deployment,
                    "kind": kind,
                    "started_at": self._s.now(),
                    "summary": summary,
                },
            )
            return int(res.scalar_one())

    def finish(self, run_id: int, *, ok: bool, summary: str = "") -> None:
        """Record that run ``run_id`` ended (``ok``: it did its work)."""
        from sqlalchemy import update

        from ccapki.store import schema as t

        with self._s.transaction() as c:
            c.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(finished_at=self._s.now(), ok=int(ok), summary=summary)
            )

    def last(self, kind: str, *, ok: bool | None = True) -> RunRecord | None:
        """The newest finished run of ``kind`` (``ok`` True: the newest that succeeded;
        None: the newest whatever its end, or still running)."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        r = t.runs
        q = select(r).where((r.c.deployment == self._s.deployment) & (r.c.kind == kind))
        if ok is not None:
            q = q.where(r.c.ok == int(ok))
        with self._s.connection() as c:
            row = c.execute(q.order_by(r.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return RunRecord(
            row.id,
            row.kind,
            row.started_at,
            row.finished_at,
            None if row.ok is None else bool(row.ok),
            row.summary,
            row.deployment,
        )
