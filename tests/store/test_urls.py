"""A database URL no store can live at (MySQL, another driver, not a URL) is refused with a
hint before anything is opened (walkthrough: ``CCAPKI_DATABASE_URL=mysql://...`` was
"internal error: ModuleNotFoundError: No module named 'MySQLdb'", exit 70); a PostgreSQL
server refusing the connection is said in its words (walkthrough: a wrong password was
"cannot reach the database ... (OperationalError)", hint "that the server is running")."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki
from ccapki.errors import StoreError
from ccapki.store.urls import check_database_url
from kit.cli import Cli
from kit.tools import require_pg_url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://ann:s3cret-pw@db.example.edu/pki", "names mysql"),
        ("postgresql+asyncpg://ann@db.example.edu/pki", "through asyncpg"),
        ("notaurl", "is not a URL"),
    ],
)
def test_a_url_no_store_can_live_at_is_refused(url: str, words: str) -> None:
    with pytest.raises(StoreError) as caught:
        check_database_url(url)
    assert words in caught.value.message
    assert "s3cret-pw" not in caught.value.message  # the password is never shown
    assert "postgresql+psycopg://" in caught.value.hint


@pytest.mark.parametrize("url", ["sqlite:////tmp/x.db", "sqlite://", "postgresql://a@h/d"])
def test_sqlite_and_postgresql_urls_pass(url: str) -> None:
    check_database_url(url)


def test_the_api_refuses_it_as_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="names mysql"):
        ccapki.open_store(tmp_path, url="mysql://ann@db.example.edu/pki")


@pytest.mark.parametrize("command", [("status",), ("init",), ("doctor",), ("upgrade",)])
def test_the_command_says_error_and_hint_exit_2(cli: Cli, command: tuple[str, ...]) -> None:
    r = cli(*command, env={"CCAPKI_DATABASE_URL": "mysql://ann:s3cret-pw@db/pki"})
    assert r.code == 2, r.both
    assert r.err.startswith("error: the database URL mysql://ann:***@db/pki names mysql"), r.err
    assert "\nhint: set CCAPKI_DATABASE_URL to postgresql+psycopg://" in r.err
    assert "internal error" not in r.err
    assert "s3cret-pw" not in r.both


def test_a_server_refusal_says_why_and_how_to_fix_it(cli: Cli) -> None:
    from sqlalchemy.engine import make_url

    base = make_url(require_pg_url())
    wrong = base.set(password="not-the-password-42").render_as_string(hide_password=False)
    r = cli("status", env={"CCAPKI_DATABASE_URL": wrong})
    assert r.code == 2, r.both
    assert 'password authentication failed for user "' in r.err, r.err
    assert "\nhint: check the user and password in CCAPKI_DATABASE_URL" in r.err
    assert "not-the-password-42" not in r.both
    r = cli("doctor", env={"CCAPKI_DATABASE_URL": wrong})
    assert "cannot connect: password authentication failed" in r.out, r.out
    missing = base.set(database="ccapki_no_such_database").render_as_string(hide_password=False)
    r = cli("status", env={"CCAPKI_DATABASE_URL": missing})
    assert r.code == 2, r.both
    assert 'database "ccapki_no_such_database" does not exist' in r.err, r.err
    assert "\nhint: create the database (`createdb" in r.err
