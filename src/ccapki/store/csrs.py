"""The CSRs the store made (each for a pending key)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from ccapki.store import schema as t
from ccapki.store.records import CsrRecord

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
        q = select(t.csrs).where(t.csrs.c.deployment == self._s.deployment).order_by(t.csrs.c.id)
        if identity is not None:
            q = q.where(t.csrs.c.identity == identity)
        with self._s.connection() as c:
            return [
                CsrRecord(r.identity, r.spki, r.pem, r.created_at, r.deployment)
                for r in c.execute(q)
            ]
