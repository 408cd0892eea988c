"""On PostgreSQL the commands say where the store is: the database (its URL without the
password), not the home folder, which holds none of its rows (walkthrough: "created store
/home/x" and "issued cam v1 (expires ...) in /home/x" for a store in PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from kit.cli import FAQ, Cli, ok
from kit.jobs import pg_schema


@pytest.fixture
def pg_store_url() -> Iterator[str]:
    """A database URL on a schema of its own (dropped at the end)."""
    with pg_schema() as url:
        yield url


def test_the_messages_name_the_database_not_the_home_folder(
    cli: Cli, home: Path, pg_store_url: str
) -> None:
    env: dict[str, str | None] = {"CCAPKI_DATABASE_URL": pg_store_url}
    shown = make_url(pg_store_url).render_as_string(hide_password=True)
    r = ok(cli("init", "--key-file", env=env))
    assert f"created store {shown} (data key in {home / 'data.key'} (0600))" in r.out, r.out
    r = ok(cli("apply", FAQ, env=env))
    assert f") in {shown}" in r.out, r.out
    assert f"in {home}" not in r.out
    r = ok(cli("renew", "cas-dorm", "--commit", env=env))
    assert f") in {shown}" in r.out, r.out
    password = make_url(pg_store_url).password
    if password:
        assert f":{password}@" not in r.out
