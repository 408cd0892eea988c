"""The CSRs the store made (each for a pending key)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from ccapki.store.records import CsrRecord, KeyState, stored_time

if TYPE_CHECKING:
    from cryptography import x509

    from ccapki.store.session import Store

__all__ = ["CsrRepository"]


class CsrRepository:
    """``store.csrs``."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, identity: str, csr: x509.CertificateSigningRequest, spki: str) -> None:
        """Keep ``csr`` for ``identity``; ``spki`` is its (stored, pending) key's."""
        from cryptography.hazmat.primitives.serialization import Encoding
        from sqlalchemy import insert

        from ccapki.store import schema as t

        with self._s.connection() as c:
            c.execute(
                insert(t.csrs),
                {
                    "identity": identity,
                    "spki": spki,
                    "pem": csr.public_bytes(Encoding.PEM).decode(),
                    "created_at": self._s.now(),
                    "deployment": self._s.deployment,
                },
            )
        self._s.audit.record("csr", identity, spki=spki)

    def list(self, identity: str | None = None) -> builtins.list[CsrRecord]:
        """Every CSR of the deployment (of ``identity``), oldest first."""
        sql = "SELECT identity, spki, pem, created_at, deployment FROM csrs WHERE deployment = :d"
        if identity is not None:
            sql += " AND identity = :identity"
        rows = self._s.rows(sql + " ORDER BY id", {"d": self._s.deployment, "identity": identity})
        return [
            CsrRecord(name, spki, pem, stored_time(at), dep) for name, spki, pem, at, dep in rows
        ]

    def pending(self) -> dict[str, CsrRecord]:
        """The newest CSR of each identity of the deployment whose key is still pending
        (no certificate imported for it yet, not retired), by identity."""
        rows = self._s.rows(
            "SELECT c.identity, c.spki, c.pem, c.created_at, c.deployment FROM csrs c "
            "JOIN keys k ON k.fingerprint = c.spki "
            "WHERE c.deployment = :d AND k.state = :pending AND k.identity = c.identity "
            "ORDER BY c.id",
            {"d": self._s.deployment, "pending": KeyState.PENDING.value},
        )
        return {
            name: CsrRecord(name, spki, pem, stored_time(at), dep)
            for name, spki, pem, at, dep in rows
        }
