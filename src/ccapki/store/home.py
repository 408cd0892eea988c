"""The store's folder: made 0700, and checked that other users cannot read it (where it
is and what it holds: :mod:`ccapki.home`, which imports no database code)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ccapki.errors import StoreError
from ccapki.home import DB_NAME, KEY_FILE, sqlite_url

__all__ = ["LoosePath", "loose_modes", "loose_paths", "make_home", "refuse_odd_database"]


def make_home(home: Path) -> None:
    """Create the store folder 0700 (a folder that exists keeps its mode: see
    :func:`loose_modes`)."""
    if home.exists() and not home.is_dir():
        raise StoreError(
            f"{home} is a file, not a folder",
            "pass --home (or CCAPKI_HOME) a folder path; ccapki creates the folder",
        )
    if home.is_dir():
        return
    try:
        home.mkdir(parents=True, mode=0o700)
        os.chmod(home, 0o700)
    except OSError as exc:
        raise StoreError(
            f"cannot create the store folder {home} ({exc.strerror or type(exc).__name__})",
            "pass --home (or CCAPKI_HOME) a folder path you can create, below a folder",
        ) from None


def refuse_odd_database(db: Path) -> None:
    """Refuse a store database ``db`` that is there but is not a regular file: a FIFO hung
    every command and every ``open_store`` (reading it waits for a writer), a folder was
    "not a ccapki store (OperationalError)". Only ``stat``: nothing is opened or read.

    Returns None (also when ``db`` is not there, or cannot be looked at: the open says);
    raises :class:`StoreError` naming what is there, with the fix."""
    import stat

    try:
        mode = db.stat().st_mode
    except OSError:
        return  # not there (or unreadable): the open says
    if stat.S_ISREG(mode):
        return
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise StoreError(
        f"{db} is {kind}, not the store's database file; nothing was read",
        f"move it away (`mv {db} {db}.bak`) and put back the store's {db.name} (or run "
        "`ccapki init` there for a new store); or point --home / CCAPKI_HOME at the "
        "folder of your store",
    )


@dataclass(frozen=True)
class LoosePath:
    """A store path that other users can read or write: its mode and the mode it wants."""

    path: Path
    mode: int
    wanted: int

    @property
    def fix(self) -> str:
        return f"chmod {self.wanted:o} {self.path}"


def loose_paths(home: Path, url: str | None = None) -> list[LoosePath]:
    """The store folder, its SQLite database and ``data.key`` where other users can read or
    write them (paths that are not there are skipped). ``url`` is the database URL the store
    is opened with (None: SQLite in ``home``)."""
    checks = [(home, 0o700)]
    if (url or sqlite_url(home)).startswith("sqlite:"):
        checks.append((home / DB_NAME, 0o600))
    checks.append((home / KEY_FILE, 0o600))
    loose: list[LoosePath] = []
    for path, wanted in checks:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            loose.append(LoosePath(path, mode, wanted))
    return loose


def loose_modes(home: Path, url: str | None = None) -> str | None:
    """A warning (as ssh gives) when other users can read or write the store folder, its
    SQLite database or ``data.key``, with the ``chmod`` that fixes it; else ``None``.
    ``url`` is the database URL the store is opened with (None: SQLite in ``home``)."""
    loose = loose_paths(home, url)
    if not loose:
        return None
    what = ", ".join(f"{p.path} ({p.mode:04o})" for p in loose)
    fix = " && ".join(p.fix for p in loose)
    return f"other users can read or write the store's {what}; run {fix}"
