"""Walkthrough: two administrators run ``ccapki renew NAME --commit`` at the same moment.

Real ``ccapki`` processes on one store (SQLite, and PostgreSQL). The identity is renewed
once: the run that writes second finds, under the store's write lock, that the other
renewed it while it ran (planned from the old version, or planned after the other's
commit but begun before it) and says so on one line, exit 0, renewing nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest

import ccapki
from ccapki.store import Store
from kit.certs import NOW
from kit.cli import FAQ
from kit.storecheck import check_store
from lifecycle.test_concurrent_writers import (  # noqa: F401 - pg_url: a fixture
    WAITING,
    _finish,
    _init,
    _lock_held,
    _start,
    pg_url,
)

NAME = "cas-annex"
STOPPED = re.compile(
    rf"^{NAME} was renewed at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC by another run "
    rf"\(now v2; this one planned from v(?P<planned>\d)\): nothing renewed; run "
    rf"`ccapki renew {NAME} --commit` again to renew once more$",
    re.M,
)


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite_only), "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL (None: the SQLite file in the store folder; PostgreSQL: a schema
    of the test's own, see ``test_concurrent_writers.pg_url``)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def _faq(tmp_path: Path, url: str | None) -> Path:
    home = tmp_path / "store"
    _init(home, url)
    code, _out, err = _finish([_start(home, "apply", str(FAQ))])[0]
    assert code == 0, err
    return home


def _version(home: Path, url: str | None) -> int:
    with Store.open(home, url=url, clock=lambda: NOW) as store:
        ident = store.identities.get(NAME)
        assert ident is not None
        return ident.version


def test_two_renewals_waiting_for_the_lock_renew_once(tmp_path: Path, backend: str | None) -> None:
    """Both plan from v1 and wait for the write lock: the second to write stops."""
    home = _faq(tmp_path, backend)
    with _lock_held(home, backend):
        procs = [_start(home, "--wait", "60", "renew", NAME, "--commit") for _ in range(2)]
        said: list[str] = []
        readers = [
            threading.Thread(target=lambda p=p: said.append(p.stderr.readline()))  # type: ignore[misc]
            for p in procs
        ]
        for r in readers:
            r.start()
        for r in readers:
            r.join(timeout=60)
        assert said == [WAITING.format(60) + "\n"] * 2, said
    results = _finish(procs)
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    outs = [out for _, out, _ in results]
    renewed = [o for o in outs if f"renewed {NAME} v2 (was v1;" in o]
    stopped = [m for o in outs for m in STOPPED.finditer(o)]
    assert len(renewed) == 1, outs
    assert len(stopped) == 1, outs
    assert stopped[0]["planned"] == "1"
    assert _version(home, backend) == 2
    check_store(home, backend)


def test_a_renewal_committed_after_the_run_began_is_not_made_again(
    tmp_path: Path, backend: str | None
) -> None:
    """The other run commits before this one plans (but after it began): this one plans
    from v2 and must still not make v3."""
    home = _faq(tmp_path, backend)
    began = dt.datetime.now(dt.UTC)  # this run begins ...
    code, out, err = _finish([_start(home, "renew", NAME, "--commit")])[0]  # ... another renews
    assert code == 0, err
    assert f"renewed {NAME} v2 (was v1;" in out
    d = ccapki.load_deployment(FAQ)
    with Store.open(home, url=backend, clock=lambda: NOW) as store:
        plan = ccapki.plan_renewal(store, d, NOW, names=[NAME], due=False, started=began)
        assert [(i.identity, i.version) for i in plan.items] == [(NAME, 2)]
        result = ccapki.commit_renewal(store, d, plan, NOW)
        assert result.renewed == ()
        assert result.elsewhere == (NAME,)
        (other,) = result.renewed_elsewhere
        assert (other.identity, other.planned_version, other.version, other.how) == (
            NAME,
            2,
            2,
            "renewed",
        )
        assert other.at is not None
        assert other.at > began
        assert STOPPED.fullmatch(other.message())
        assert result.to_dict()["renewed_elsewhere"] == [other.to_dict()]
        # a run that begins now (after that renewal) renews once more
        again = ccapki.plan_renewal(store, d, NOW, names=[NAME], due=False)
        assert [r.version for r in ccapki.commit_renewal(store, d, again, NOW).renewed] == [3]
    check_store(home, backend)


def test_renewals_started_together_renew_once(tmp_path: Path, backend: str | None) -> None:
    """Started together, unsynchronised: whichever way they interleave, one renewal."""
    home = _faq(tmp_path, backend)
    for n in range(3):
        results = _finish([_start(home, "renew", NAME, "--commit") for _ in range(2)])
        for code, _out, err in results:
            assert code == 0, err
        outs = "".join(out for _, out, _ in results)
        assert outs.count(f"renewed {NAME} v{n + 2} (was v{n + 1};") == 1, outs
        assert f"{NAME} was renewed at " in outs, outs
        assert f"by another run (now v{n + 2}; this one planned from v" in outs, outs
        assert _version(home, backend) == n + 2
