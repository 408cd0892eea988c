"""Persistence: SQLAlchemy (SQLite by default), keys encrypted at rest, Alembic migrations.

``Store`` is the session (one connection, one transaction at a time); its repositories
(``store.keys``, ``store.identities``, ``store.cas``, ``store.trust``, ``store.csrs``,
``store.audit``, ``store.deployments``) return the frozen records of
:mod:`ccapki.store.records`.
"""

from typing import TYPE_CHECKING

from ccapki.home import resolve_home, store_exists
from ccapki.store.home import loose_modes
from ccapki.store.records import (
    AuditEntry,
    CertFacts,
    CertSource,
    CsrRecord,
    DeploymentRecord,
    IdentityRecord,
    KeyRecord,
    KeyState,
    StoredCA,
    StoredIdentity,
    TrustEntry,
    certificate_facts,
)

if TYPE_CHECKING:
    from ccapki.store.session import MIN_PASSPHRASE, PassphraseProvider, Store


def __getattr__(name: str) -> object:
    # the session needs SQLAlchemy (~0.2 s to import): loaded when first asked for, so
    # `ccapki.store.home` / `.records` (and the commands with no store) stay cheap
    if name in ("MIN_PASSPHRASE", "PassphraseProvider", "Store"):
        from ccapki.store import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MIN_PASSPHRASE",
    "AuditEntry",
    "CertFacts",
    "CertSource",
    "CsrRecord",
    "DeploymentRecord",
    "IdentityRecord",
    "KeyRecord",
    "KeyState",
    "PassphraseProvider",
    "Store",
    "StoredCA",
    "StoredIdentity",
    "TrustEntry",
    "certificate_facts",
    "loose_modes",
    "resolve_home",
    "store_exists",
]
