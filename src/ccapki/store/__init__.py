"""Persistence: SQLAlchemy (SQLite by default), keys encrypted at rest, Alembic migrations."""

from ccapki.store.db import Store, StoredCA, StoredIdentity, resolve_home

__all__ = ["Store", "StoredCA", "StoredIdentity", "resolve_home"]
