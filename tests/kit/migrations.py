"""Moving a test's store database to another schema revision with ccapki's own Alembic
scripts (the migration tests of tests/store)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import ccapki.store

__all__ = ["alembic_to", "downgrade_store"]


def alembic_to(engine: Engine, revision: str, *, up: bool) -> None:
    """Upgrade (``up``) or downgrade the database of ``engine`` to ``revision``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(ccapki.store.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(cfg, revision)


def downgrade_store(home: Path, revision: str) -> None:
    """Take the store in ``home`` (either backend: its SQLite file, or the test's
    PostgreSQL database) back to the schema ``revision`` (an older store, as an earlier
    release left it)."""
    from kit.pgmode import store_sql

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(ccapki.store.__file__).parent / "migrations"))
    with store_sql(home) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
