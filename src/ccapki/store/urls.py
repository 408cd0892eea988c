"""Database URLs a store can live at: SQLite (``sqlite:///PATH``) or PostgreSQL through
psycopg (``postgresql+psycopg://USER:PASSWORD@HOST/DB``; ``postgresql://`` means the same).
Anything else is refused with a hint before an engine is made (a MySQL URL or a typo was
an internal error, exit 70)."""

from __future__ import annotations

from ccapki.errors import StoreError

__all__ = ["SUPPORTED_URLS", "check_database_url", "check_store_url", "connect_failure"]

#: What the hints show as the URLs a store takes.
SUPPORTED_URLS = "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE, or sqlite:///PATH"

#: (backend, driver) pairs a store works with.
_SUPPORTED = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}


def check_database_url(url: str) -> None:
    """Refuse a database URL no store can live at. Returns None for a SQLite or a
    psycopg PostgreSQL URL whose driver is installed; raises :class:`StoreError` (the
    URL shown without its password) for a string that is not a URL, another database or
    driver, or psycopg missing. Connects to nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(
            "the database URL is not a URL (it should look like "
            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE)",
            f"set CCAPKI_DATABASE_URL to {SUPPORTED_URLS}; or unset it for the SQLite "
            "store in the home folder",
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    except NoSuchModuleError:  # a dialect SQLAlchemy does not know (foo://)
        backend, driver = parsed.drivername, ""
    if (backend, driver) not in _SUPPORTED:
        what = f"{backend} through {driver}" if driver else backend
        raise StoreError(
            f"the database URL {shown} names {what}: a ccapki store lives in SQLite or in "
            "PostgreSQL through psycopg",
            f"set CCAPKI_DATABASE_URL to {SUPPORTED_URLS}",
        )
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError:
        raise StoreError(
            f"the database URL {shown} needs the {driver} driver, which is not installed",
            "install ccapki with its PostgreSQL extra (`pip install 'ccapki[postgres]'`)",
        ) from None


def check_store_url(url: str) -> None:
    """:func:`check_database_url`, and refuse a SQLite URL that would not keep a store
    where it says between two commands (``CCAPKI_DATABASE_URL``): an in-memory database
    (``sqlite://``, ``sqlite:///:memory:``: `init` said "created store" and the next
    command found none, an empty ``ccapki.db`` left in the home folder), or one whose path
    holds a ``?`` (what follows is read as options: ``sqlite:////srv/a?b/s.db`` made the
    file ``/srv/a``, outside the folder named). Returns None; raises :class:`StoreError`.
    """
    check_database_url(url)
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    shown = parsed.render_as_string(hide_password=True)
    if not parsed.database or parsed.database == ":memory:":
        raise StoreError(
            f"the database URL {shown} names an in-memory SQLite database: a store there "
            "is gone when the command ends",
            "name the database file (sqlite:////var/lib/ccapki/ccapki.db: four slashes "
            "for an absolute path), or unset CCAPKI_DATABASE_URL for the store folder's "
            "own (--home, CCAPKI_HOME)",
        )
    if "?" in url:  # make_url keeps only key=value options, and drops the rest
        raise StoreError(
            f"the database URL {url} has a '?': a SQLite URL reads what follows it as "
            f"options, so its database would be {parsed.database}",
            "write a '?' in the path as %3F (and '%' as %25), or unset "
            "CCAPKI_DATABASE_URL and give the store folder with --home (its path is used "
            "as it is)",
        )


_DEFAULT_HINT = "check CCAPKI_DATABASE_URL and that the database server is running"


def connect_failure(exc: BaseException) -> tuple[str, str]:
    """Why a connection to the database failed, in the server's words (``password
    authentication failed for user "ccapki"``, ``database "x" does not exist``, connection
    refused...; never the password, which libpq does not repeat), and the hint that fixes
    it. Returns ``(why, hint)``; raises nothing."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    why = text.rpartition(" failed: ")[2] if " failed: " in text else text
    why = why.removeprefix("FATAL:").strip()
    if "password authentication failed" in why or "no password supplied" in why:
        hint = (
            "check the user and password in CCAPKI_DATABASE_URL "
            "(postgresql+psycopg://USER:PASSWORD@HOST/DATABASE)"
        )
    elif "does not exist" in why and "database" in why:
        hint = (
            "create the database (`createdb -O USER NAME`, as the postgres user) or fix its "
            "name in CCAPKI_DATABASE_URL"
        )
    else:
        hint = _DEFAULT_HINT
    return why, hint
