"""Where a store lives: its folder and the names in it. Light: imports no database code.

Commands that may run without a store (``plan FILE``, ``inspect FILE``) ask
:func:`store_exists` before deciding to open one, so they never pay for SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DB_NAME", "KEY_FILE", "expand_home", "resolve_home", "sqlite_url", "store_exists"]

#: The SQLite database in the store folder (when no database URL is given).
DB_NAME = "ccapki.db"
#: The data key of a store made with ``init --key-file``.
KEY_FILE = "data.key"


def expand_home(home: str | os.PathLike[str], given: str = "--home") -> Path:
    """``home`` with a leading ``~`` or ``~USER`` expanded, as a shell would.

    Returns the path. Raises :class:`~ccapki.errors.InputError` when ``~USER`` names no
    user of this machine (or ``~`` has no home folder); ``given`` says where the path
    came from, for the message.
    """
    try:
        return Path(home).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        from ccapki.errors import InputError

        first = os.fspath(home).split("/", 1)[0]
        raise InputError(
            f"{given} {os.fspath(home)}: {first} names no home folder on this machine",
            "give the store folder's full path (a leading ~USER is that user's home "
            "folder, as in a shell)",
        ) from None


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``home``, else ``$CCAPKI_HOME``, else ``$XDG_DATA_HOME/ccapki`` (~/.local/share).

    Raises :class:`~ccapki.errors.InputError` for a ``~USER`` that names no user.
    """
    if home:
        return expand_home(home)
    env = os.environ.get("CCAPKI_HOME")
    if env:
        return expand_home(env, "CCAPKI_HOME")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ccapki"


def sqlite_url(home: Path) -> str:
    """The URL of the SQLite database in ``home``."""
    return f"sqlite:///{home / DB_NAME}"


def store_exists(home: Path, url: str | None = None) -> bool:
    """Whether a store may be opened: a database URL is given, or ``home`` holds one."""
    return bool(url) or (home / DB_NAME).exists()
