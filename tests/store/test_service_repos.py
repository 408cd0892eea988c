"""The service's state in the store: users and roles, API tokens and web sessions by their
SHA-256 only, login throttling, and jobs claimed by one instance each (leases run out and
are taken over). On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ccapki.errors import InputError, NotFoundError
from ccapki.store import Store
from ccapki.store import schema as t
from ccapki.store.records import JobState, Role
from kit.certs import NOW
from kit.tools import clean_pg_url

MIN = dt.timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    url = None
    if request.param == "postgresql":
        url = clean_pg_url()
    with Store.init(tmp_path, url=url, key_file=True, clock=clock) as s:
        yield s


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_users_tokens_and_sessions_keep_no_secret(store: Store, clock: Clock) -> None:
    alice = store.users.add("alice", Role.OPERATOR, "$argon2id$v=19$stand-in")
    with pytest.raises(InputError):
        store.users.add("alice", Role.VIEWER, None)
    token = "tok-" + "x" * 40
    rec = store.tokens.add(alice, "ci", token, expires_at=NOW + 60 * MIN)
    assert store.tokens.check(token) == alice
    assert store.tokens.check(token + "y") is None
    cookie = "cookie-" + "z" * 40
    store.sessions.add(alice, cookie, "csrf-1", dt.timedelta(hours=8))
    found = store.sessions.check(cookie)
    assert found is not None
    assert found[0] == alice
    assert found[1].csrf_token == "csrf-1"
    with store.engine.connect() as c:  # only hashes in the database
        dumped = " ".join(
            str(v)
            for tbl in (t.api_tokens, t.web_sessions)
            for r in c.execute(select(tbl))
            for v in r
        )
    assert token not in dumped
    assert cookie not in dumped
    # expiry, revocation, disabling
    clock.now = NOW + 61 * MIN
    assert store.tokens.check(token) is None
    clock.now = NOW
    store.tokens.revoke(rec.id)
    assert store.tokens.check(token) is None
    with pytest.raises(NotFoundError):
        store.tokens.revoke(rec.id)
    store.users.update("alice", disabled=True)
    assert store.sessions.check(cookie) is None  # disabling ends the sessions
    assert [e.action for e in store.audit.log(20)][:3] == [
        "user-change",
        "token-revoke",
        "login",
    ]


def test_failed_logins_are_counted_per_name_and_address(store: Store, clock: Clock) -> None:
    for _ in range(3):
        store.logins.failed("bob", "10.0.0.1")
    store.logins.failed("carol", "10.0.0.2")
    assert store.logins.recent("bob", "10.9.9.9", 5 * MIN) == 3
    assert store.logins.recent("zed", "10.0.0.1", 5 * MIN) == 3
    assert store.logins.recent("carol", "10.0.0.1", 5 * MIN) == 4
    clock.now = NOW + 6 * MIN
    assert store.logins.recent("bob", "10.0.0.1", 5 * MIN) == 0
    store.logins.clear("bob")


def test_a_job_is_claimed_once_and_taken_over_when_its_lease_runs_out(
    store: Store, clock: Clock
) -> None:
    a = store.jobs.enqueue("apply", {"file": "x.toml"}, deployment="d", created_by="alice")
    b = store.jobs.enqueue("probe", {})
    first = store.jobs.claim("one", 2 * MIN)
    second = store.jobs.claim("two", 2 * MIN)
    assert first is not None
    assert second is not None
    assert (first.id, second.id) == (a.id, b.id)
    assert store.jobs.claim("three", 2 * MIN) is None
    assert store.jobs.heartbeat(a.id, "one", 2 * MIN, {"done": 1, "total": 2})
    assert store.jobs.get(a.id).progress == {"done": 1, "total": 2}
    # instance "one" dies: once its lease ran out, "three" takes the job over
    clock.now = NOW + 3 * MIN
    taken = store.jobs.claim("three", 2 * MIN)
    assert taken is not None
    assert (taken.id, taken.owner, taken.attempts) == (a.id, "three", 2)
    assert not store.jobs.heartbeat(a.id, "one", 2 * MIN)  # "one" learns it lost it
    assert not store.jobs.finish(a.id, "one", JobState.DONE)
    assert store.jobs.finish(a.id, "three", JobState.DONE, result={"issued": 6})
    assert store.jobs.get(a.id).result == {"issued": 6}
    # cancelling: a running job is asked to stop at its next heartbeat
    store.jobs.cancel(b.id)
    assert not store.jobs.heartbeat(b.id, "two", 2 * MIN)
    assert store.jobs.finish(b.id, "two", JobState.CANCELLED)
    queued = store.jobs.enqueue("backup", {})
    assert store.jobs.cancel(queued.id).state is JobState.CANCELLED
    assert [j.state for j in store.jobs.list()] == [
        JobState.CANCELLED,
        JobState.CANCELLED,
        JobState.DONE,
    ]


def test_a_fork_shares_the_unlocked_keyring_and_pool_not_the_transaction(
    store: Store,
) -> None:
    store.unlock()
    fork = store.fork(deployment="other", actor="alice")
    assert fork.engine is store.engine
    assert fork.keyring is store.keyring
    assert fork.deployment == "other"
    fork.audit.record("probe", "x")
    assert store.audit.log(1)[0].actor == "alice"
    fork.close()  # the pool stays: the first store still works
    assert store.users.list() == []
