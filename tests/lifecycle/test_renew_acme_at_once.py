"""Walkthrough B (a year of operations): two ``ccapki renew NAME --commit`` at once on an
ACME identity ordered it twice from the CA and stored two new versions (v2 and v3): the
internal part of ``renew --commit`` stops a second run (test_renew_at_once.py), the ACME
part had no such check.

Real ``ccapki`` processes, Debian's pebble and pebble-challtestsrv (DNS-01 through the
documented hook), on SQLite and PostgreSQL. The identity is ordered once: a run that finds
the identity being ordered by another run (its order in flight), or ordered by one after it
began, says so on one line, exit 0, and asks the CA for nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import ccapki
from ccapki.store import Store
from lifecycle.test_concurrent_writers import (  # noqa: F401 - pg_url: a fixture
    EXE,
    _finish,
    _init,
    pg_url,
)
from service.test_acme_routes import _servers

pytestmark = pytest.mark.integration

NAME = "cam"


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL (None: the SQLite file in the store folder)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def campus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wall_clock: None) -> Any:
    """pebble and challtestsrv running; the ACME campus file (an ACME CAM)."""
    servers = _servers()
    chall = servers.ChallTestSrv(tmp_path).start()
    pebble = servers.Pebble(tmp_path, f"127.0.0.1:{chall.dns_port}")
    try:
        pebble.start()
        monkeypatch.setenv("CHALLTESTSRV", chall.management)
        hook = servers.hook_script(tmp_path)
        yield servers.campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    finally:
        pebble.stop()
        chall.stop()


def _start(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    assert EXE is not None
    return subprocess.Popen(
        [EXE, "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **env},
    )


def _ordered(tmp_path: Path, campus: Path, backend: str | None) -> Path:
    home = tmp_path / "store"
    _init(home, backend)
    code, out, err = _finish([_start(home, "apply", str(campus))])[0]
    assert code == 0, err
    assert f"ordered {NAME} v1" in out, out + err
    return home


def _version(home: Path, url: str | None) -> int:
    with Store.open(home, url=url) as store:
        ident = store.identities.get(NAME)
        assert ident is not None
        return ident.version


def _orders(home: Path, url: str | None) -> int:
    from ccapki.store.acme import AcmeRepository

    with Store.open(home, url=url) as store, store.scoped("acme-campus"):
        return len(AcmeRepository(store).orders(NAME))


def test_a_renewal_while_another_run_orders_it_orders_nothing(
    tmp_path: Path, campus: Path, backend: str | None
) -> None:
    home = _ordered(tmp_path, campus, backend)
    for attempt in range(5):
        version, orders = _version(home, backend), _orders(home, backend)
        pause = tmp_path / f"pause{attempt}"
        first = _start(home, "renew", NAME, "--commit", HOOK_PAUSE=str(pause))
        try:
            waited = 0
            while not pause.with_name(pause.name + ".wait").exists():  # its order, in flight
                if first.poll() is not None:
                    break
                assert waited < 600, "the first renewal never reached the CA"
                time.sleep(0.1)
                waited += 1
            raced = first.poll() is None
            if raced:
                code, out, err = _finish([_start(home, "renew", NAME, "--commit")])[0]
        finally:
            pause.with_name(pause.name + ".go").touch()
            first_code, first_out, first_err = _finish([first])[0]
        if raced:
            break
        # pebble reuses a valid authorization now and then even with PEBBLE_AUTHZREUSE=0
        # (a new one only when rand.Intn(100) > 0: 1 in 100): the order needs no
        # challenge, the hook never runs, nothing to race with; that renewal must have
        # gone through, then the race is set up again
        assert first_code == 0, first_out + first_err
        assert f"ordered {NAME} v{version + 1}" in first_out, first_out + first_err
    else:
        pytest.fail("pebble reused the authorization 5 times in a row: no race was set up")
    assert code == 0, err
    assert "Traceback" not in err
    said = out + err
    assert f"ordered {NAME}" not in said, said
    assert f"{NAME} is being ordered from the ACME CA by another run (since " in said, said
    assert f"now v{version}; this one planned from v{version}): nothing renewed;" in said, said
    assert f"run `ccapki renew {NAME} --commit` again once that run is done" in said, said
    assert first_code == 0, first_err
    assert f"ordered {NAME} v{version + 1}" in first_out, first_out + first_err
    assert _version(home, backend) == version + 1
    assert _orders(home, backend) == orders + 1  # the orders before, and the renewal's


def test_an_order_stored_after_the_run_began_is_not_made_again(
    tmp_path: Path, campus: Path, backend: str | None
) -> None:
    from ccapki.lifecycle.acme import order_renewals

    home = _ordered(tmp_path, campus, backend)
    began = dt.datetime.now(dt.UTC)  # this run begins ...
    code, out, err = _finish([_start(home, "renew", NAME, "--commit")])[0]  # ... another
    assert code == 0, err
    assert f"ordered {NAME} v2" in out, out + err
    d = ccapki.load_deployment(campus)
    with Store.open(home, url=backend) as store:
        plan = ccapki.plan_renewal(store, d, names=[NAME], due=False, started=began)
        done = order_renewals(store, d, plan)
        assert done.outcomes == []
        (other,) = done.elsewhere
        assert (other.identity, other.planned_version, other.version, other.how) == (
            NAME,
            2,
            2,
            "renewed",
        )
        assert other.at is not None
        assert other.at > began
        assert store.identities.current()[NAME].version == 2
        # a run that begins now (after that order) orders once more
        again = order_renewals(store, d, ccapki.plan_renewal(store, d, names=[NAME], due=False))
        assert [o.version for o in again.outcomes] == [3]
        assert again.elsewhere == []
