"""What the service keeps: users (``store.users``), API tokens (``store.tokens``), web
sessions (``store.sessions``), failed logins (``store.logins``) and background jobs
(``store.jobs``).

Secrets are never stored: passwords as Argon2id hashes made by the service, tokens and
session cookies as their SHA-256 (they are long random strings: a fast hash is enough).
Jobs are claimed by any instance: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, one
writer at a time on SQLite; a running job whose lease ran out (its instance died) is
claimed again.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ccapki.errors import ConflictError, NotFoundError
from ccapki.store import schema as t
from ccapki.store.records import (
    JobRecord,
    JobState,
    Role,
    SessionRecord,
    TokenRecord,
    UserRecord,
)

if TYPE_CHECKING:
    from sqlalchemy import Row

    from ccapki.store.session import Store

__all__ = [
    "JobRepository",
    "LoginThrottle",
    "SessionRepository",
    "TokenRepository",
    "UserRepository",
    "secret_hash",
]


#: A token's ``last_used_at`` is written again only when older than this.
_USE_NOTED = dt.timedelta(minutes=1)


def secret_hash(secret: str) -> str:
    """The SHA-256 (hex) the store keeps of a token or session cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(r: Row[tuple[object, ...]]) -> UserRecord:
    m = r._mapping
    return UserRecord(
        m["id"], m["name"], Role(m["role"]), m["password_hash"], m["created_at"], m["disabled_at"]
    )


class UserRepository:
    """``store.users``."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, name: str, role: Role, password_hash: str | None) -> UserRecord:
        """A new user, its name kept as spelled. Names are unique whatever their case
        (``ANN`` beside ``ann`` would confuse people and logs alike).

        Returns the :class:`UserRecord`. Raises :class:`ConflictError` when the name is
        taken (in any case)."""
        try:
            with self._s.transaction() as c:
                taken = c.execute(
                    select(t.users.c.name).where(func.lower(t.users.c.name) == name.lower())
                ).scalar()
                if taken is not None:
                    raise self._taken(taken)
                c.execute(
                    insert(t.users),
                    {
                        "name": name,
                        "role": Role(role).value,
                        "password_hash": password_hash,
                        "created_at": self._s.now(),
                    },
                )
                self._s.audit.record("user-add", name, role=Role(role).value)
        except IntegrityError:
            raise self._taken(name) from None
        return self.get(name)

    @staticmethod
    def _taken(name: str) -> ConflictError:
        return ConflictError(
            f"a user named {name!r} exists already (names are unique whatever their case)",
            "choose another name, or change that user (`ccapki users set-role`)",
        )

    def get(self, name: str) -> UserRecord:
        """The user ``name``. Raises :class:`NotFoundError`."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"no user named {name!r}", "`ccapki users list` lists them")
        return found

    def find(self, name: str) -> UserRecord | None:
        """The user ``name``, whatever its case (``ANN`` finds ``ann``: names are unique
        whatever their case), else None. Raises nothing of its own."""
        with self._s.connection() as c:
            # lower() on both sides, in the database: the same folding as the unique index
            # ix_users_name_lower, which this lookup uses
            row = c.execute(
                select(t.users).where(func.lower(t.users.c.name) == func.lower(name))
            ).first()
        return _user(row) if row else None

    def by_id(self, user_id: int) -> UserRecord | None:
        with self._s.connection() as c:
            row = c.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return _user(row) if row else None

    def list(self) -> builtins.list[UserRecord]:
        with self._s.connection() as c:
            return [_user(r) for r in c.execute(select(t.users).order_by(t.users.c.name))]

    def update(
        self,
        name: str,
        *,
        role: Role | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        """Change a user's role, password hash or disabled state (audited; never the hash).
        Disabling ends the user's web sessions. Returns the changed :class:`UserRecord`.
        Raises :class:`NotFoundError`, :class:`ConflictError` when that would leave no
        active admin."""
        user = self.get(name)
        values: dict[str, object] = {}
        if role is not None:
            values["role"] = Role(role).value
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled_at"] = self._s.now() if disabled else None
        if not values:
            return user
        demoted = role is not None and Role(role) is not Role.ADMIN
        with self._s.transaction() as c:
            if user.active and user.role is Role.ADMIN and (demoted or disabled):
                others = c.execute(
                    select(func.count())
                    .select_from(t.users)
                    .where(t.users.c.role == Role.ADMIN.value)
                    .where(t.users.c.disabled_at.is_(None))
                    .where(t.users.c.id != user.id)
                ).scalar_one()
                if not others:
                    raise ConflictError(
                        f"{user.name!r} is the last active admin",
                        "make another user admin first (`ccapki users add NAME --role admin` "
                        "or `ccapki users set-role NAME admin`), so someone can manage users",
                    )
            c.execute(update(t.users).where(t.users.c.id == user.id).values(**values))
            if disabled or password_hash is not None:
                c.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user.id))
            shown = {k: v for k, v in values.items() if k != "password_hash"}
            if password_hash is not None:
                shown["password_changed"] = True
            self._s.audit.record("user-change", user.name, **shown)
        return self.get(user.name)


class TokenRepository:
    """``store.tokens``: API tokens by their SHA-256."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(
        self, user: UserRecord, label: str, token: str, expires_at: dt.datetime | None = None
    ) -> TokenRecord:
        """Keep the SHA-256 of ``token`` (a long random string the caller made and shows
        once) for ``user``."""
        with self._s.transaction() as c:
            res = c.execute(
                insert(t.api_tokens).returning(t.api_tokens.c.id),
                {
                    "user_id": user.id,
                    "label": label,
                    "token_hash": secret_hash(token),
                    "created_at": self._s.now(),
                    "expires_at": expires_at,
                },
            )
            token_id = int(res.scalar_one())
            self._s.audit.record("token-add", user.name, label=label, token_id=token_id)
        return self._token(token_id)

    def _token(self, token_id: int) -> TokenRecord:
        with self._s.connection() as c:
            r = c.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).one()
        return TokenRecord(
            r.id, r.user_id, r.label, r.created_at, r.expires_at, r.last_used_at, r.revoked_at
        )

    def check(self, token: str) -> UserRecord | None:
        """The active user whose live token ``token`` is (and note its use, to the
        minute), else None."""
        now = self._s.now()
        a = t.api_tokens
        with self._s.connection() as c:
            row = c.execute(
                select(a.c.id, a.c.user_id, a.c.expires_at, a.c.revoked_at, a.c.last_used_at).where(
                    a.c.token_hash == secret_hash(token)
                )
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _USE_NOTED:
            # a write of its own, not after the read in one transaction: on SQLite (WAL) a
            # read transaction that then writes fails at once when another wrote meanwhile;
            # and at most once a minute, so requests under load do not queue for the lock
            self._note_use(row.id, now)
        user = self._s.users.by_id(row.user_id)
        return user if user is not None and user.active else None

    def _note_use(self, token_id: int, now: dt.datetime) -> None:
        """Note that token ``token_id`` was used at ``now``, unless another ccapki holds a
        SQLite store's write lock: a request never waits for that writer (nor fails after
        5 s, its read undone) for this note; a later request makes it. Raises what the
        database raises, but a busy SQLite store."""
        import sqlite3

        from sqlalchemy.exc import OperationalError

        a = t.api_tokens
        try:
            with self._s.connection() as c:
                raw = c.connection.driver_connection if c.dialect.name == "sqlite" else None
                if not isinstance(raw, sqlite3.Connection):
                    c.execute(update(a).where(a.c.id == token_id).values(last_used_at=now))
                    return
                (wait,) = raw.execute("PRAGMA busy_timeout").fetchone()
                raw.execute("PRAGMA busy_timeout=0")  # a writer holds it: give up at once
                try:
                    c.execute(update(a).where(a.c.id == token_id).values(last_used_at=now))
                finally:
                    raw.execute(f"PRAGMA busy_timeout={int(wait)}")
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", None)
            if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise

    def list(self, user: UserRecord | None = None) -> builtins.list[TokenRecord]:
        a = t.api_tokens
        q = select(a).order_by(a.c.id)
        if user is not None:
            q = q.where(a.c.user_id == user.id)
        with self._s.connection() as c:
            return [
                TokenRecord(
                    r.id,
                    r.user_id,
                    r.label,
                    r.created_at,
                    r.expires_at,
                    r.last_used_at,
                    r.revoked_at,
                )
                for r in c.execute(q)
            ]

    def revoke(self, token_id: int) -> None:
        """Revoke token ``token_id``. Raises :class:`NotFoundError`."""
        a = t.api_tokens
        with self._s.transaction() as c:
            n = c.execute(
                update(a)
                .where((a.c.id == token_id) & a.c.revoked_at.is_(None))
                .values(revoked_at=self._s.now())
            ).rowcount
            if not n:
                raise NotFoundError(f"no live token {token_id}", "`ccapki users tokens` lists them")
            self._s.audit.record("token-revoke", str(token_id))


class SessionRepository:
    """``store.sessions``: web sessions by the SHA-256 of their cookie."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(
        self, user: UserRecord, cookie: str, csrf_token: str, lifetime: dt.timedelta
    ) -> SessionRecord:
        now = self._s.now()
        with self._s.transaction() as c:
            c.execute(
                insert(t.web_sessions),
                {
                    "session_hash": secret_hash(cookie),
                    "user_id": user.id,
                    "csrf_token": csrf_token,
                    "created_at": now,
                    "expires_at": now + lifetime,
                },
            )
            self._s.audit.record("login", user.name)
        found = self.check(cookie)
        assert found is not None
        return found[1]

    def check(self, cookie: str) -> tuple[UserRecord, SessionRecord] | None:
        """The active user and live session of ``cookie``, else None."""
        w = t.web_sessions
        with self._s.connection() as c:
            r = c.execute(select(w).where(w.c.session_hash == secret_hash(cookie))).first()
        if r is None or r.expires_at <= self._s.now():
            return None
        user = self._s.users.by_id(r.user_id)
        if user is None or not user.active:
            return None
        return user, SessionRecord(r.id, r.user_id, r.csrf_token, r.created_at, r.expires_at)

    def end(self, cookie: str) -> None:
        """Log out: the session is gone (on every instance)."""
        w = t.web_sessions
        with self._s.transaction() as c:
            c.execute(delete(w).where(w.c.session_hash == secret_hash(cookie)))
            c.execute(delete(w).where(w.c.expires_at <= self._s.now()))


class LoginThrottle:
    """``store.logins``: failed logins, counted per name and per address over a window."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def failed(self, name: str, address: str) -> None:
        with self._s.transaction() as c:
            c.execute(
                insert(t.login_failures),
                {"name": name[:128], "address": address[:64], "at": self._s.now()},
            )
            self._s.audit.record("login-failed", name[:128], address=address[:64])

    def recent(self, name: str, address: str, window: dt.timedelta) -> int:
        """How many logins failed for ``name`` or from ``address`` within ``window``."""
        f = t.login_failures
        since = self._s.now() - window
        with self._s.connection() as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(f)
                    .where(f.c.at > since)
                    .where(or_(f.c.name == name[:128], f.c.address == address[:64]))
                ).scalar_one()
            )

    def counts(
        self, name: str, address: str, window: dt.timedelta
    ) -> tuple[int, int, int, dt.datetime | None]:
        """The logins that failed within ``window``: for ``name`` from ``address``, from
        ``address`` (any name), for ``name`` (any address), and when ``name``'s last
        failure was (None: none). Raises nothing."""
        f = t.login_failures
        since = self._s.now() - window
        name, address = name[:128], address[:64]
        one = f.c.name == name
        with self._s.connection() as c:
            row = c.execute(
                select(
                    func.count().filter(one & (f.c.address == address)),
                    func.count().filter(f.c.address == address),
                    func.count().filter(one),
                    func.max(f.c.at).filter(one),
                )
                .where(f.c.at > since)
                .where(or_(one, f.c.address == address))
            ).one()
        return int(row[0]), int(row[1]), int(row[2]), row[3]

    def oldest(
        self,
        window: dt.timedelta,
        *,
        name: str | None = None,
        address: str | None = None,
        skip: int = 0,
    ) -> dt.datetime | None:
        """When the oldest login that failed within ``window`` failed, for ``name`` (when
        given) from ``address`` (when given), passing over the ``skip`` oldest: with
        ``skip`` = failures - limit, when the one whose ageing out ends a lock failed.
        None when there are no more. One row read by the ``(name, at)`` or ``(address,
        at)`` index. Raises nothing."""
        f = t.login_failures
        q = select(f.c.at).where(f.c.at > self._s.now() - window)
        if name is not None:
            q = q.where(f.c.name == name[:128])
        if address is not None:
            q = q.where(f.c.address == address[:64])
        q = q.order_by(f.c.at, f.c.id).offset(max(0, skip)).limit(1)
        with self._s.connection() as c:
            found: dt.datetime | None = c.execute(q).scalar()
        return found

    def clear(self, name: str, address: str | None = None) -> None:
        """A good login forgets the name's failures (from ``address`` only, when given)."""
        f = t.login_failures
        q = delete(f).where(f.c.name == name[:128])
        if address is not None:
            q = q.where(f.c.address == address[:64])
        with self._s.transaction() as c:
            c.execute(q)


def _job(r: Row[tuple[object, ...]]) -> JobRecord:
    m = r._mapping
    return JobRecord(
        id=m["id"],
        kind=m["kind"],
        deployment=m["deployment"],
        params=json.loads(m["params"]),
        state=JobState(m["state"]),
        created_by=m["created_by"],
        created_at=m["created_at"],
        owner=m["owner"],
        lease_until=m["lease_until"],
        attempts=m["attempts"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        cancel_requested=bool(m["cancel_requested"]),
        progress=json.loads(m["progress"]),
        result=None if m["result"] is None else json.loads(m["result"]),
        error=m["error"],
    )


class JobRepository:
    """``store.jobs``: background jobs any instance may run.

    A job is queued, claimed by one instance (running, with a lease it renews while it
    works), and finished (done, failed, cancelled). A running job whose lease ran out is
    claimed again by the next instance that looks. Claims do not take the store's write
    lock (a long apply holding it does not stop other instances from claiming)."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def enqueue(
        self,
        kind: str,
        params: Mapping[str, object],
        *,
        deployment: str | None = None,
        created_by: str | None = None,
    ) -> JobRecord:
        with self._s.engine.begin() as c:
            res = c.execute(
                insert(t.jobs).returning(t.jobs.c.id),
                {
                    "kind": kind,
                    "deployment": deployment,
                    "params": json.dumps(dict(params), sort_keys=True),
                    "state": JobState.QUEUED.value,
                    "created_by": created_by,
                    "created_at": self._s.now(),
                    "attempts": 0,
                    "cancel_requested": 0,
                    "progress": "{}",
                },
            )
            job_id = int(res.scalar_one())
        return self.get(job_id)

    def get(self, job_id: int) -> JobRecord:
        """Job ``job_id``. Raises :class:`NotFoundError`."""
        row = None
        # an id no INTEGER column holds (32 bits on PostgreSQL) is no job, not a DataError
        if 0 < job_id < 2**31:
            with self._s.engine.connect() as c:
                row = c.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id}", "list the jobs: GET /api/v1/jobs")
        return _job(row)

    def list(
        self, states: Sequence[JobState] | None = None, limit: int = 100
    ) -> builtins.list[JobRecord]:
        """The newest ``limit`` jobs (in ``states``), newest first."""
        q = select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)
        if states:
            q = q.where(t.jobs.c.state.in_([s.value for s in states]))
        with self._s.engine.connect() as c:
            return [_job(r) for r in c.execute(q)]

    def claim(
        self, owner: str, lease: dt.timedelta, kinds: Sequence[str] | None = None
    ) -> JobRecord | None:
        """Take the oldest queued job (or a running one whose lease ran out) for
        ``owner``; None when there is none. Two instances never take the same job."""
        now = self._s.now()
        j = t.jobs
        q = (
            select(j.c.id)
            .where(
                (j.c.state == JobState.QUEUED.value)
                | ((j.c.state == JobState.RUNNING.value) & (j.c.lease_until < now))
            )
            .order_by(j.c.id)
            .limit(1)
        )
        if kinds:
            q = q.where(j.c.kind.in_(list(kinds)))
        if self._s.engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        with self._s.engine.begin() as c:
            job_id = c.execute(q).scalar()
            if job_id is None:
                return None
            c.execute(
                update(j)
                .where(j.c.id == job_id)
                .values(
                    state=JobState.RUNNING.value,
                    owner=owner,
                    lease_until=now + lease,
                    attempts=j.c.attempts + 1,
                    started_at=func.coalesce(j.c.started_at, now),
                )
            )
        return self.get(int(job_id))

    def heartbeat(
        self,
        job_id: int,
        owner: str,
        lease: dt.timedelta,
        progress: Mapping[str, object] | None = None,
    ) -> bool:
        """Renew ``owner``'s lease (and record ``progress``). False when the job is no
        longer ``owner``'s (its lease ran out and another took it) or a cancel was asked:
        the caller stops."""
        j = t.jobs
        values: dict[str, object] = {"lease_until": self._s.now() + lease}
        if progress is not None:
            values["progress"] = json.dumps(dict(progress), sort_keys=True, default=str)
        with self._s.engine.begin() as c:
            n = c.execute(
                update(j)
                .where(
                    (j.c.id == job_id)
                    & (j.c.owner == owner)
                    & (j.c.state == JobState.RUNNING.value)
                )
                .values(**values)
            ).rowcount
            cancel = c.execute(select(j.c.cancel_requested).where(j.c.id == job_id)).scalar()
        return bool(n) and not cancel

    def finish(
        self,
        job_id: int,
        owner: str,
        state: JobState,
        *,
        result: object | None = None,
        error: str | None = None,
    ) -> bool:
        """End ``owner``'s job as ``state`` (done, failed or cancelled); False when it was
        no longer ``owner``'s (nothing changed)."""
        if not state.finished:
            raise ValueError(f"{state} is not an end state")
        j = t.jobs
        with self._s.engine.begin() as c:
            n = c.execute(
                update(j)
                .where(
                    (j.c.id == job_id)
                    & (j.c.owner == owner)
                    & (j.c.state == JobState.RUNNING.value)
                )
                .values(
                    state=state.value,
                    finished_at=self._s.now(),
                    lease_until=None,
                    result=None if result is None else json.dumps(result, default=str),
                    error=error,
                )
            ).rowcount
        return bool(n)

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel a queued job at once; ask a running one to stop (it stops at its next
        heartbeat). A finished job stays as it is. Raises :class:`NotFoundError`."""
        j = t.jobs
        self.get(job_id)
        with self._s.engine.begin() as c:
            c.execute(
                update(j)
                .where((j.c.id == job_id) & (j.c.state == JobState.QUEUED.value))
                .values(state=JobState.CANCELLED.value, finished_at=self._s.now())
            )
            c.execute(
                update(j)
                .where((j.c.id == job_id) & (j.c.state == JobState.RUNNING.value))
                .values(cancel_requested=1)
            )
        return self.get(job_id)
