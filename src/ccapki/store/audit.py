"""The audit log (every change and every private-key export) and the deployment files
the store keeps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from ccapki.store import schema as t
from ccapki.store.records import AuditEntry, DeploymentRecord

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = ["AuditLog", "DeploymentRepository"]


class AuditLog:
    """``store.audit``: append-only."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def record(self, action: str, subject: str, **detail: object) -> None:
        """Log ``action`` on ``subject`` with JSON-able details (never key material)."""
        with self._s.connection() as c:
            c.execute(
                insert(t.audit),
                {
                    "at": self._s.now(),
                    "action": action,
                    "subject": subject,
                    "detail": json.dumps(detail, default=str, sort_keys=True),
                },
            )

    def log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self._s.connection() as c:
            rows = c.execute(select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)).all()
        return [AuditEntry(r.at, r.action, r.subject, json.loads(r.detail)) for r in rows]


class DeploymentRepository:
    """``store.deployments``: every version of the deployment file applied."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def record(self, name: str, text: str, path: str | None) -> bool:
        """Keep a new version of the deployment file if it changed. True if it did."""
        with self._s.connection() as c:
            last = c.execute(
                select(t.deployments.c.source_text).order_by(t.deployments.c.id.desc()).limit(1)
            ).scalar()
            if last == text:
                return False
            c.execute(
                insert(t.deployments),
                {"name": name, "source_text": text, "path": path, "loaded_at": self._s.now()},
            )
        self._s.audit.record("deployment", name, path=path)
        return True

    def latest(self) -> DeploymentRecord | None:
        """The latest deployment file kept, if any."""
        with self._s.connection() as c:
            row = c.execute(
                select(t.deployments.c.source_text, t.deployments.c.path)
                .order_by(t.deployments.c.id.desc())
                .limit(1)
            ).first()
        return DeploymentRecord(row.source_text, row.path) if row else None
