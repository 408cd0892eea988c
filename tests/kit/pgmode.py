"""The suite on PostgreSQL: ``CCAPKI_TEST_BACKEND=postgresql`` (with ``CCAPKI_TEST_PG_URL``).

A pytest plugin (``tests/conftest.py`` loads it; it does nothing on the default SQLite
backend). On PostgreSQL, every store a test makes or opens without a database URL (``ccapki
init`` and every command through the ``cli`` fixture, ``Store.init/open(home)``,
``ccapki.open_store(home)``) lives in a fresh PostgreSQL schema of its own, one per home
folder, dropped after the test: the store's "SQLite file in HOME" is replaced by "the schema
of HOME". The CLI run in process without ``CCAPKI_DATABASE_URL`` gets the schema of the
home it runs on; commands run as processes get ``CCAPKI_DATABASE_URL`` of the ``home``
fixture's schema. Tests that read or damage rows use :func:`store_sql` / :func:`store_url`,
and :func:`has_store`, :func:`no_store` and ``kit.cli.db_bytes`` work on either backend.

``CCAPKI_TEST_BACKEND=postgresql`` without ``CCAPKI_TEST_PG_URL`` (or another backend name)
is a usage error; under CI an unreachable server fails every test.

Tests about SQLite itself (the database file, its locks, modes and PRAGMAs, a read-only
file) are marked ``@pytest.mark.sqlite_only`` and skipped on PostgreSQL. Under CI (``CI``
set) on PostgreSQL, those are the only tests that may skip: any other skip (a missing
tool, a ``skipif``) fails the test, so that the PostgreSQL run can never pass by skipping.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "BACKEND",
    "dump",
    "has_store",
    "no_store",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_make_collect_report",
    "pytest_runtest_makereport",
    "store_sql",
    "store_url",
]

#: The backend the suite runs on: ``sqlite`` (default) or ``postgresql``.
BACKEND = os.environ.get("CCAPKI_TEST_BACKEND", "sqlite")
#: Whether the suite runs under CI (``CI`` set, as .ci/run does), read once: a test that
#: changes the environment does not change what a skip means
_CI = bool(os.environ.get("CI"))


def pytest_configure(config: pytest.Config) -> None:
    """A PostgreSQL run without a PostgreSQL, or a backend of another name, is a usage error
    (never a run of skips, nor a silent run on SQLite). The ``sqlite_only`` marker is declared
    in pyproject.toml."""
    if BACKEND not in ("sqlite", "postgresql"):
        raise pytest.UsageError(
            f"CCAPKI_TEST_BACKEND={BACKEND!r}: the backends are 'sqlite' and 'postgresql'"
        )
    if BACKEND == "postgresql" and not os.environ.get("CCAPKI_TEST_PG_URL"):
        raise pytest.UsageError(
            "CCAPKI_TEST_BACKEND=postgresql needs CCAPKI_TEST_PG_URL "
            "(e.g. postgresql+psycopg://ccapki:ccapki@127.0.0.1/ccapki_test)"
        )


#: the backends a test names itself (``@pytest.mark.parametrize("backend", [...])``)
_BACKENDS = frozenset({"sqlite", "postgresql"})


def _names_its_backend(item: pytest.Item) -> bool:
    """Whether ``item`` is a variant of a test run once per backend it names (a parameter
    "sqlite" or "postgresql", alone or in a tuple): the default run (``make test``) runs
    every variant already, each on its own backend."""
    spec = getattr(item, "callspec", None)
    if spec is None:
        return False
    for value in spec.params.values():
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, str) and v in _BACKENDS for v in values):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, the tests about SQLite itself skip before any fixture runs, and two
    kinds of tests are left out (deselected), the default run having run them already:
    the variants of a test run once per backend it names (each on its backend there,
    PostgreSQL included; here the SQLite one would run on PostgreSQL too), and the tests
    marked ``no_store`` (they make no store, so they would run here exactly as there).

    On SQLite, a ``no_store`` test may not ask for the fixtures that make stores (``cli``,
    ``home``); :func:`_no_store_kept` fails one that opens a store all the same."""
    if BACKEND != "postgresql":
        for item in items:
            if item.get_closest_marker("no_store") and {"cli", "home"} & set(
                getattr(item, "fixturenames", ())
            ):
                raise pytest.UsageError(
                    f"{item.nodeid} is marked no_store but asks for the cli or home "
                    "fixture, which make stores"
                )
        return
    skip = pytest.mark.skip(reason="about SQLite itself (CCAPKI_TEST_BACKEND=postgresql)")
    kept: list[pytest.Item] = []
    twice: list[pytest.Item] = []
    for item in items:
        if _names_its_backend(item) or item.get_closest_marker("no_store"):
            twice.append(item)
            continue
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
        kept.append(item)
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = kept


def _skips_refused() -> bool:
    """Whether a skip is a failure here: on PostgreSQL under CI (see the module's text)."""
    return BACKEND == "postgresql" and _CI


def _refused(what: str, longrepr: object) -> str:
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    return (
        f"{what} skipped on PostgreSQL under CI ({reason}); only tests marked sqlite_only "
        "may skip there: provide what it needs (.ci/run), or mark it sqlite_only if it is "
        "about SQLite itself"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On PostgreSQL under CI, a test that skips (setup or call) without the
    ``sqlite_only`` marker fails instead."""
    report: pytest.TestReport = yield
    if (
        report.skipped
        and _skips_refused()
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("sqlite_only") is None
    ):
        report.outcome = "failed"
        report.longrepr = _refused(item.nodeid, report.longrepr)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """On PostgreSQL under CI, a module that skips as a whole fails instead."""
    report: pytest.CollectReport = yield
    if report.skipped and _skips_refused():
        report.outcome = "failed"
        report.longrepr = _refused(collector.nodeid, report.longrepr)
    return report


class _Schemas:
    """One fresh schema per home folder, made when first asked for."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.engine: Engine = create_engine(base)
        self.by_home: dict[Path, str] = {}

    def url(self, home: Path) -> str:
        key = Path(home).resolve()
        name = self.by_home.get(key)
        if name is None:
            name = self.by_home[key] = "t_" + uuid.uuid4().hex[:16]
            with self.engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {name}"))
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{name}"

    def holds_store(self, home: Path) -> bool:
        name = self.by_home.get(Path(home).resolve())
        if name is None:
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM information_schema.tables "
                    "WHERE table_schema = :s AND table_name = 'meta'"
                ),
                {"s": name},
            ).first()
        return found is not None

    def drop(self) -> None:
        with self.engine.begin() as conn:
            for name in self.by_home.values():
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        self.engine.dispose()


#: the schemas of the running test (None outside one, and on SQLite)
_current: _Schemas | None = None


def _raw(value: object) -> bytes:
    """A column's value as the bytes it holds (text as UTF-8, binary as is)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()


def dump(home: Path) -> bytes:
    """Every row of every table of ``home``'s schema, in a fixed order (what
    :func:`kit.cli.db_bytes` compares on PostgreSQL): binary columns as their bytes and text
    as UTF-8, so that a search for bytes in it (a private key's DER, a PEM body) means what
    it means in the SQLite file."""
    from sqlalchemy import MetaData, select

    assert _current is not None, "kit.pgmode.dump outside a PostgreSQL test"
    engine = create_engine(_current.url(home))
    try:
        with engine.connect() as conn:
            found = MetaData()  # the tables as they are (an older schema too), not as coded
            found.reflect(conn)
            parts = [
                tbl.name.encode()
                + b"\x1d"
                + b"\x1e".join(
                    b"\x1f".join(_raw(v) for v in row)
                    for row in conn.execute(select(tbl).order_by(*tbl.primary_key or tbl.c))
                )
                for tbl in found.sorted_tables
            ]
    finally:
        engine.dispose()
    return b"\n".join(parts)


def store_url(home: Path) -> str:
    """The database URL of the store in ``home`` on the running backend: the SQLite file,
    or (on PostgreSQL) ``home``'s schema."""
    if BACKEND == "postgresql":
        assert _current is not None, "kit.pgmode.store_url outside a PostgreSQL test"
        return _current.url(home)
    from ccapki.home import sqlite_url

    return sqlite_url(home)


@contextmanager
def store_sql(home: Path) -> Iterator[Connection]:
    """A connection to the store in ``home``'s database (either backend), in a transaction
    committed at the end: for tests that read or damage rows directly (SQLAlchemy ``text``
    with ``:named`` parameters)."""
    engine = create_engine(store_url(home))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def no_store(home: Path) -> str:
    """A regex of what ccapki says when ``home`` has no store on the running backend: on
    SQLite "no ccapki store at HOME"; on PostgreSQL, where the database is given and
    empty, "the database URL holds no ccapki schema"."""
    if BACKEND == "postgresql":
        return r"the database postgresql\S+ holds no ccapki schema"
    return re.escape(f"no ccapki store at {home}")


def has_store(home: Path) -> bool:
    """Whether ``home`` holds a store on the running backend (on SQLite: its file)."""
    if BACKEND == "postgresql":
        assert _current is not None, "kit.pgmode.has_store outside a PostgreSQL test"
        return _current.holds_store(home)
    from ccapki.home import DB_NAME

    return (home / DB_NAME).is_file()


def _per_home(schemas: _Schemas, auto: str, main: Any) -> Any:
    """The ``cli`` fixture's ``main``: a command run in process gets the schema of the home
    it runs on (``home_dir=``, or none: the default home), not the ``CCAPKI_DATABASE_URL``
    set for processes, nor none when a test unsets it for "the SQLite file in home" (a test
    that sets its own URL keeps it)."""

    def call(argv: list[str]) -> Any:
        before = os.environ.get("CCAPKI_DATABASE_URL")
        if before not in (None, auto):  # the test chose its database
            return main(argv)
        from ccapki.home import resolve_home

        given = argv[1] if argv[:1] == ["--home"] and len(argv) > 1 else None
        try:
            home = resolve_home(given)
        except Exception:  # a home the command refuses (~nosuchuser/...): it says so
            return main(argv)
        os.environ["CCAPKI_DATABASE_URL"] = schemas.url(home)
        try:
            return main(argv)
        finally:
            if before is None:
                del os.environ["CCAPKI_DATABASE_URL"]
            else:
                os.environ["CCAPKI_DATABASE_URL"] = before

    return call


def _with_url(schemas: _Schemas, method: Any) -> Any:
    """``Store.init``/``Store.open`` giving ``home``'s schema when no URL is given."""

    def call(home: Path, *args: Any, url: str | None = None, **kw: Any) -> Any:
        return method(home, *args, url=url or schemas.url(home), **kw)

    return call


@pytest.fixture(autouse=True)
def _no_store_kept(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test marked ``no_store`` (left out of the PostgreSQL run) fails if it makes or
    opens a store after all: the marker stays true."""
    if request.node.get_closest_marker("no_store") is None:
        return
    from ccapki.store.session import Store

    def refused(*args: Any, **kw: Any) -> Any:
        raise AssertionError(
            f"{request.node.nodeid} is marked no_store (the PostgreSQL run leaves it out) "
            "but makes or opens a store: remove the marker"
        )

    monkeypatch.setattr(Store, "init", refused)
    monkeypatch.setattr(Store, "open", refused)


@pytest.fixture(autouse=True)
def _postgresql_stores(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _clean_env: None
) -> Iterator[None]:
    if BACKEND != "postgresql":
        yield
        return
    from kit.tools import require_pg_url

    global _current
    schemas = _current = _Schemas(require_pg_url())

    from ccapki.store.session import Store

    # the URL is given where the store is made or opened, as a PostgreSQL user gives it
    monkeypatch.setattr(Store, "init", _with_url(schemas, Store.init))
    monkeypatch.setattr(Store, "open", _with_url(schemas, Store.open))
    monkeypatch.setattr(
        Store, "exists", staticmethod(lambda home, url=None: bool(url) or schemas.holds_store(home))
    )
    # the CLI run in process without CCAPKI_DATABASE_URL: the schema of its home
    from ccapki.cli.app import Env

    given = Env.database_url
    monkeypatch.setattr(
        Env, "database_url", property(lambda env: given.fget(env) or schemas.url(env.home))
    )
    if "home" in request.fixturenames:  # commands run as processes
        home = request.getfixturevalue("home")
        # told apart from the same URL a test passes itself (kit.pgmode.store_url)
        auto = schemas.url(home) + "&application_name=ccapki-test-process"
        monkeypatch.setenv("CCAPKI_DATABASE_URL", auto)
        import kit.cli

        monkeypatch.setattr(kit.cli, "main", _per_home(schemas, auto, kit.cli.main))
    try:
        yield
    finally:
        _current = None
        schemas.drop()
