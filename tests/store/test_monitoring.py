"""Monitoring state in the store: probe results with ``since``, notifications sent once
(the database's unique key decides, across processes), runs. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.store import Store
from ccapki.store.records import ProbeRecord, ProbeVerdict
from kit.certs import NOW
from kit.tools import clean_pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = None
    if request.param == "postgresql":
        url = clean_pg_url()
    clock = {"now": NOW}
    with Store.init(tmp_path, url=url, key_file=True, clock=lambda: clock["now"]) as s:
        s.use("campus", new=True)
        yield s


def _seen(appliance: str, leaf: str | None, at: dt.datetime) -> ProbeRecord:
    verdict = ProbeVerdict.EXPECTED if leaf else ProbeVerdict.UNREACHABLE
    return ProbeRecord(appliance, "agent", "127.0.0.1:8443", at, verdict, leaf_sha256=leaf)


def test_since_is_kept_while_the_certificate_stays(store: Store) -> None:
    day = dt.timedelta(days=1)
    first = store.probes.add([_seen("cas1", "aa", NOW), _seen("cas2", "bb", NOW)])
    assert [r.since for r in first] == [NOW, NOW]
    assert {r.deployment for r in first} == {"campus"}
    store.probes.add([_seen("cas1", "aa", NOW + day), _seen("cas2", "cc", NOW + day)])
    latest = {r.appliance: r for r in store.probes.latest()}
    assert latest["cas1"].since == NOW  # same certificate: since the first probe
    assert latest["cas2"].since == NOW + day  # another one: since now
    assert latest["cas2"].leaf_sha256 == "cc"
    store.probes.add([_seen("cas1", None, NOW + 2 * day)])
    latest = {r.appliance: r for r in store.probes.latest()}
    assert latest["cas1"].verdict is ProbeVerdict.UNREACHABLE
    assert latest["cas1"].since is None
    assert [r.at for r in store.probes.history("cas1")] == [NOW + 2 * day, NOW + day, NOW]
    with store.scoped("other"):
        assert store.probes.latest() == []


def test_a_notification_is_claimed_once(store: Store) -> None:
    assert store.notices.claim("cas1", "expiry", "30", "f1", ["webhook"])
    assert not store.notices.claim("cas1", "expiry", "30", "f1", ["webhook", "email"])
    assert not store.notices.sent("cas1", "expiry", "30", "f1")  # claimed, in flight
    store.notices.confirm("cas1", "expiry", "30", "f1")
    assert store.notices.sent("cas1", "expiry", "30", "f1")
    store.notices.release("cas1", "expiry", "30", "f1")  # a sent one is never released
    assert store.notices.claim("cas1", "expiry", "7", "f1", ["email"])  # the next stage
    assert store.notices.claim("cas1", "expiry", "30", "f2", ["email"])  # a renewed cert
    store.notices.release("cas1", "expiry", "7", "f1")
    assert not store.notices.sent("cas1", "expiry", "7", "f1")
    assert [n.stage for n in store.notices.list()] == ["30", "30"]
    assert store.notices.list()[-1].channels == ("webhook",)


def test_runs_remember_the_last_success(store: Store) -> None:
    assert store.runs.last("watch") is None
    ok = store.runs.start("watch")
    store.runs.finish(ok, ok=True, summary="6 identities")
    bad = store.runs.start("watch")
    store.runs.finish(bad, ok=False, summary="store busy")
    assert store.runs.last("watch").id == ok  # type: ignore[union-attr]
    assert store.runs.last("watch", ok=None).summary == "store busy"  # type: ignore[union-attr]


def test_the_audit_log_says_which_deployment_and_who(
    cli: object, home: Path, keyfile_store: Path
) -> None:
    import getpass

    from kit.cli import FAQ, ok

    ok(cli("apply", FAQ))  # type: ignore[operator]
    with Store.open(home) as s:
        entries = s.audit.log(1000)
    issued = [e for e in entries if e.action == "issue"]
    assert issued, [e.action for e in entries]
    assert {e.deployment for e in issued} == {"faq-campus"}
    assert {e.actor for e in issued} == {getpass.getuser()}
    init = entries[-1]
    assert init.action == "init"
    assert init.deployment is None  # store-wide
