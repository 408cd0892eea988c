"""Where a store lives: its folder and the names in it. Light: imports no database code.

Commands that may run without a store (``plan FILE``, ``inspect FILE``) ask
:func:`store_exists` before deciding to open one, so they never pay for SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DB_NAME", "KEY_FILE", "resolve_home", "sqlite_url", "store_exists"]

#: The SQLite database in the store folder (when no database URL is given).
DB_NAME = "ccapki.db"
#: The data key of a store made with ``init --key-file``.
KEY_FILE = "data.key"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``home``, else ``$CCAPKI_HOME``, else ``$XDG_DATA_HOME/ccapki`` (~/.local/share)."""
    if home:
        return Path(home).expanduser()
    env = os.environ.get("CCAPKI_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ccapki"


def sqlite_url(home: Path) -> str:
    """The URL of the SQLite database in ``home``."""
    return f"sqlite:///{home / DB_NAME}"


def store_exists(home: Path, url: str | None = None) -> bool:
    """Whether a store may be opened: a database URL is given, or ``home`` holds one."""
    return bool(url) or (home / DB_NAME).exists()
