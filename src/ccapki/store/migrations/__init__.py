"""Alembic migrations of the store's schema (run by :mod:`ccapki.store.session`)."""

__all__: list[str] = []
