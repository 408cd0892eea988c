"""Background jobs: long work (an apply of thousands, a probe, a backup, a renewal) run by
whichever service instance claims it, with status endpoints and cancellation.

A job is a row of ``store.jobs`` (see :class:`~ccapki.store.service.JobRepository`):
:func:`submit` queues it, a :class:`JobRunner` (one thread per instance) claims it (``SELECT
... FOR UPDATE SKIP LOCKED`` on PostgreSQL: two instances never take the same job), runs it
through :mod:`ccapki.api` on a fork of the store acting for the user who asked, renews its
lease and records its progress from a side thread while it runs, and finishes it with a
JSON result or an error (the :class:`~ccapki.errors.CcapkiError`'s message and hint, never
a traceback). An instance that dies stops renewing: once the lease runs out, another
instance claims the job again (an apply goes on where the batches committed so far left
it, and its progress and result count the whole job: what the earlier attempts kept too,
each attempt said in the result's ``attempts`` and ``summary``; the others start over).

Cancelling asks the job to stop at its next safe point: an apply between two batches (what
was committed stays: a later apply issues the rest), a renewal between its plan and its
commit, a probe or a backup before it starts (once started, they run to their end).

Kinds and their ``params``:

``apply``
    ``text``: a deployment file (TOML) to apply, and ``path`` where it came from (both
    optional: without ``text``, the file the store last applied of the job's deployment).
    Its result: ``issued`` (the whole job's, the earlier attempts' too), ``created_cas``,
    ``trust_added``, ``not_in_file``, ``renamed_from``, ``issued_elsewhere``; taken over
    after a restart, ``attempts`` (each ``{"kept", "of"}``) and ``summary`` (in words).
``probe``
    ``target`` (``auto``, ``lab``, ``deployment``), ``timeout`` (seconds), ``concurrency``,
    ``retries``: as :func:`ccapki.api.probe_endpoints`.
``backup``
    none: a backup of the whole store to ``backup_dir`` (default ``HOME/backups``), under
    the service's backup passphrase (``CCAPKI_BACKUP_PASSPHRASE`` of the service's
    environment; never sent with the job, so never kept in the store).
``renew``
    ``names`` (identities or appliances renewed even when not due), ``due`` (renew what is
    due, default true): :func:`ccapki.api.plan_renewal` then :func:`ccapki.api.commit_renewal`,
    then the ``source = "acme"`` identities of the plan ordered through ACME as ``ccapki renew
    --commit`` orders them (:func:`ccapki.lifecycle.acme.renewal_orders`,
    :func:`~ccapki.lifecycle.acme.order_identities`): the result's ``acme`` (``notes``,
    ``orders``, as the ``acme`` job's) when there were any. An order that failed fails the
    job (its error and hint); its result still says what was renewed and ordered.
``acme``
    ``names`` (ACME identities ordered even when not due; an HA peer names its pair), ``due``
    (order every ACME identity due when ``names`` is empty, default true):
    :func:`ccapki.lifecycle.acme.order_identities`, as ``ccapki acme order``. Its result:
    ``notes`` (what a public CA will not issue, the clientAuth caveat) and one entry per
    order; an order that failed fails the job (the others are stored). A cancel is seen
    before the orders start; once started they run to their end.

The routes (``router``, under ``/api/v1/jobs``): list and get for viewers, cancel for
operators.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ccapki.errors import CcapkiError, InputError, Interrupted, NotFoundError, PasswordError
from ccapki.service.auth import require
from ccapki.service.problems import (
    PROBLEM_RESPONSES,
    STORE_REPLACED,
    database_busy,
    database_unreachable,
    schema_moved_words,
    store_file,
    store_file_moved,
)
from ccapki.store.records import JobRecord, JobState, Role, UserRecord

if TYPE_CHECKING:
    from ccapki.lifecycle.renew import RenewalPlan
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = [
    "BACKUP_PASSPHRASE_ENV",
    "KINDS",
    "LEASE_ENV",
    "JobOut",
    "JobRunner",
    "default_lease",
    "job_out",
    "router",
    "split_error",
    "submit",
]

log = logging.getLogger("ccapki.service.jobs")

#: The kinds of job a runner knows.
KINDS = ("apply", "probe", "backup", "renew", "acme")
#: Where the service finds the passphrase of the backups it makes.
BACKUP_PASSPHRASE_ENV = "CCAPKI_BACKUP_PASSPHRASE"  # noqa: S105 (a variable's name)
#: How an error is kept in the job's ``error`` column: the message, then this, then the hint.
_HINT_SEP = "\nhint: "
#: An apply records its progress (and sees a cancel) at most this often (seconds).
_PROGRESS_EVERY = 0.1
#: The lease a stopping runner leaves its job with: ended already, claimable at once.
_GIVE_BACK = -dt.timedelta(microseconds=1)

_PARAMS: dict[str, dict[str, tuple[type, ...]]] = {
    "apply": {"text": (str,), "path": (str,)},
    "probe": {
        "target": (str,),
        "timeout": (int, float),
        "concurrency": (int,),
        "retries": (int,),
    },
    "backup": {"skip_damaged": (bool,)},
    "renew": {"names": (list,), "due": (bool,)},
    "acme": {"names": (list,), "due": (bool,)},
}


#: The role each kind of job needs, as the route that queues it does: the user who queued
#: a job is checked again when it runs (see :func:`_creator_allowed`).
_ROLES: dict[str, Role] = {
    "apply": Role.OPERATOR,
    "probe": Role.OPERATOR,
    "renew": Role.OPERATOR,
    "acme": Role.OPERATOR,
    "backup": Role.ADMIN,
}


def _creator_allowed(store: Store, job: JobRecord) -> None:
    """Raises :class:`InputError` when the user who queued ``job`` was disabled since, or
    no longer holds the role its kind needs: the job runs as that user (its audit actor),
    so it must not run in the name of an account an admin has just shut (a stolen token)
    or demoted. A job queued under a name that is no user of the store (from Python, with
    no service user) runs as it is."""
    if job.created_by is None:
        return
    user = store.users.find(job.created_by)
    if user is None:
        return
    needed = _ROLES.get(job.kind, Role.OPERATOR)
    what = "was not run" if job.attempts <= 1 else "was not taken over (what it kept stays)"
    hint = f"an active user with the {needed.value} role may queue it again"
    if not user.active:
        raise InputError(
            f"user {user.name!r} was disabled after queuing job {job.id} ({job.kind}): it {what}",
            hint,
        )
    if not user.role.allows(needed):
        raise InputError(
            f"user {user.name!r} is {user.role.value} now; a {job.kind} job needs "
            f"{needed.value}: job {job.id} {what}",
            hint,
        )


#: The lease of a job, in seconds, when the runner is given none (default 30).
LEASE_ENV = "CCAPKI_JOB_LEASE"


def default_lease() -> dt.timedelta:
    """The job lease: ``CCAPKI_JOB_LEASE`` seconds (the service's environment), else 30 s.
    Raises :class:`InputError` for a value that is not a positive number."""
    text = os.environ.get(LEASE_ENV)
    if not text:
        return dt.timedelta(seconds=30)
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise InputError(
            f"{LEASE_ENV}={text!r}", "give the job lease in seconds, e.g. CCAPKI_JOB_LEASE=30"
        )
    return dt.timedelta(seconds=seconds)


def split_error(error: str | None) -> tuple[str | None, str | None]:
    """A job's ``error`` column as ``(message, hint)`` (each None when absent)."""
    if error is None:
        return None, None
    message, _, hint = error.partition(_HINT_SEP)
    return message, hint or None


def _error_text(exc: CcapkiError) -> str:
    return f"{exc.message}{_HINT_SEP}{exc.hint}" if exc.hint else exc.message


def _count(value: object) -> int | None:
    """``value`` when it is a count (a whole number >= 0), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _earlier_attempts(progress: Mapping[str, object]) -> tuple[list[dict[str, int]], int | None]:
    """What the progress an apply job's last attempt recorded says of the attempts before
    this one: the attempts it took over from (``earlier``: each ``{"kept", "of"}``) and
    its own number of identities to issue (None: it recorded none, so it kept none)."""
    raw = progress.get("earlier")
    earlier: list[dict[str, int]] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        kept, of = _count(entry.get("kept")), _count(entry.get("of"))
        if kept is not None and of is not None:
            earlier.append({"kept": kept, "of": of})
    total = _count(progress.get("total"))
    if total is None:
        return earlier, None
    # its "total" counts the earlier attempts' identities too (the whole job's)
    return earlier, max(0, total - sum(e["kept"] for e in earlier))


def _attempts_words(attempts: list[dict[str, int]]) -> str:
    """An apply job's attempts (each ``{"kept", "of"}``; the first, then one per restart)
    in words: "kept 40 of 100 in the first attempt, 60 more after the restart: 100 in
    all"."""
    first, *rest = attempts
    words = [f"kept {first['kept']} of {first['of']} in the first attempt"]
    for n, attempt in enumerate(rest, start=1):
        after = "after the restart" if len(rest) == 1 else f"after restart {n}"
        words.append(f"{attempt['kept']} more {after}")
    return ", ".join(words) + f": {sum(a['kept'] for a in attempts)} in all"


def _check_params(kind: str, params: Mapping[str, object]) -> None:
    """Raises :class:`InputError` for a parameter the kind does not take or of a wrong type."""
    allowed = _PARAMS[kind]
    for key, value in params.items():
        if key not in allowed:
            if kind == "backup" and "pass" in key:
                raise InputError(
                    "a backup job takes no passphrase (it would be kept in the store)",
                    f"start the service with {BACKUP_PASSPHRASE_ENV} set to the backup passphrase",
                )
            known = ", ".join(sorted(allowed)) or "none"
            raise InputError(f"a {kind} job takes no parameter {key!r}", f"its parameters: {known}")
        types = allowed[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise InputError(f"parameter {key!r} of a {kind} job must be a {names}", "")
    if kind in ("renew", "acme") and not all(
        isinstance(n, str)
        for n in params.get("names", [])  # type: ignore[attr-defined]
    ):
        raise InputError(f"parameter 'names' of a {kind} job must be a list of names", "")
    if kind == "probe" and params.get("target", "auto") not in ("auto", "lab", "deployment"):
        raise InputError(
            f"target={params.get('target')!r}", "use target 'auto', 'lab' or 'deployment'"
        )


def submit(
    store: Store,
    kind: str,
    params: Mapping[str, object],
    *,
    deployment: str | None,
    user: UserRecord | str | None,
    backup_passphrase: str | None = None,
) -> JobRecord:
    """Queue a job of ``kind`` (see the module's docstring) for ``user`` on ``deployment``
    (None: the store's only one; a backup is of the whole store and names none).

    The parameters are checked now, so a bad request fails at once: an ``apply`` with
    ``text`` must parse (its ``[deployment]`` name is the job's deployment, and must be
    ``deployment`` when that is given); the others need a deployment the store holds with
    its file; a ``renew`` naming what the deployment does not have, and a ``backup`` when
    the service has no backup passphrase (``backup_passphrase``, else
    ``CCAPKI_BACKUP_PASSPHRASE``), could never succeed: refused too. Returns the queued
    :class:`JobRecord`. Raises :class:`InputError` for an unknown kind, bad parameters or a
    broken deployment file, :class:`NotFoundError` for a deployment the store does not hold
    (or holds no file of) or a name to renew it does not have, :class:`PasswordError` for a
    backup without a passphrase.
    """
    from ccapki.api import parse_deployment

    if kind not in KINDS:
        raise InputError(f"no job kind {kind!r}", f"the kinds: {', '.join(KINDS)}")
    _check_params(kind, params)
    who = user.name if isinstance(user, UserRecord) else user
    if kind == "backup":
        deployment = None
        if not (backup_passphrase or os.environ.get(BACKUP_PASSPHRASE_ENV)):
            raise _no_backup_passphrase()
    elif kind == "apply" and "text" in params:
        dep = parse_deployment(str(params["text"]), str(params.get("path") or "<uploaded>"))
        if deployment is not None and deployment != dep.name:
            raise InputError(
                f"the file is of deployment {dep.name!r}, not {deployment!r}",
                "send the file of the deployment named, or apply it as its own deployment",
            )
        deployment = dep.name
    else:
        view = store.fork(deployment=None)
        if deployment is not None:
            view.use(deployment)
        deployment = view.deployment
        kept = view.deployments.latest()
        if kept is None:
            raise NotFoundError(
                f"the store holds no deployment file of {deployment!r}",
                "apply the deployment's file first (an apply job with its text)",
            )
        if kind == "renew" and params.get("names"):
            _check_names(parse_deployment(kept.text, kept.path or "<stored deployment>"), params)
        if kind == "acme":
            _check_acme(parse_deployment(kept.text, kept.path or "<stored deployment>"), params)
    return store.jobs.enqueue(kind, dict(params), deployment=deployment, created_by=who)


def _no_backup_passphrase() -> PasswordError:
    return PasswordError(
        "the service has no backup passphrase",
        f"start the service with {BACKUP_PASSPHRASE_ENV} set to the backup passphrase",
    )


def _check_names(dep: Deployment, params: Mapping[str, object]) -> None:
    """Raises :class:`NotFoundError` when a name of a renew job's ``names`` is neither an
    identity nor an appliance of ``dep``."""
    known = {i.name for i in dep.identities} | {m.name for i in dep.identities for m in i.members}
    names = [str(n) for n in params.get("names", [])]  # type: ignore[attr-defined]
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        what = ", ".join(repr(n) for n in unknown)
        apps = ", ".join(a.name for a in dep.appliances)
        ids = ", ".join(i.name for i in dep.identities)
        raise NotFoundError(
            f"no identity or appliance named {what} in deployment {dep.name!r} (nothing "
            "was queued)",
            f'name an identity ({ids}) or an appliance ({apps}) in "names"',
        )


def _check_acme(dep: Deployment, params: Mapping[str, object]) -> None:
    """Raises :class:`InputError` when ``dep`` has no ``[acme]`` or a name of an acme job's
    ``names`` is not an ACME identity, :class:`NotFoundError` for an unknown name."""
    from ccapki.lifecycle.acme import acme_specs

    if dep.acme is None:
        raise InputError(
            f"deployment {dep.name} has no [acme] table (nothing was queued)",
            "add [acme] (directory, email, dns) to the deployment file and apply it (docs/acme.md)",
        )
    acme_specs(dep, [str(n) for n in params.get("names", [])])  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- running


class _Stop(Exception):
    """The job stops at a safe point (cancelled, lost its lease, or the runner stops)."""


@dataclass
class _Context:
    """What a running job shares with its heartbeat thread."""

    job: JobRecord
    progress: dict[str, object] = field(default_factory=dict)
    #: set when the job must stop at its next safe point
    stop: threading.Event = field(default_factory=threading.Event)
    #: why: "cancel", "lost" (another instance owns it now) or "shutdown"
    why: str = ""
    #: set when the job ended (the heartbeats stop)
    ended: threading.Event = field(default_factory=threading.Event)
    #: what a stopped job did before it stopped (its result when cancelled), if it says
    partial: object = None
    #: held while the lease is written: a heartbeat never renews a job given back
    lease_lock: threading.Lock = field(default_factory=threading.Lock)
    given_back: bool = False

    def checkpoint(self) -> None:
        """A safe point: raises :class:`_Stop` when the job must stop."""
        if self.stop.is_set():
            raise _Stop(self.why)


class JobRunner:
    """Runs the jobs this instance claims, one at a time, in a thread.

    ``lease``: how long a claim holds without a heartbeat (an instance that dies gives its
    job up after this long; default :func:`default_lease`); ``poll``: seconds between looks
    for work when idle; ``kinds``: only these kinds (default all); ``backup_dir``: where
    backups go (default ``HOME/backups``); ``backup_passphrase``: the backups' passphrase
    (default the ``CCAPKI_BACKUP_PASSPHRASE`` environment variable).
    """

    def __init__(
        self,
        store: Store,
        instance_id: str,
        *,
        lease: dt.timedelta | None = None,
        poll: float = 0.5,
        kinds: tuple[str, ...] = KINDS,
        backup_dir: Path | None = None,
        backup_passphrase: str | None = None,
    ) -> None:
        if lease is None:
            lease = default_lease()
        if lease <= dt.timedelta(0):
            raise ValueError("the lease must be positive")
        self.store = store
        self.instance_id = instance_id
        self.lease = lease
        self.poll = poll
        self.kinds = kinds
        self.backup_dir = backup_dir or store.home / "backups"
        self._backup_passphrase = backup_passphrase
        self._stopping = threading.Event()
        self._moved_said = False  # the store upgraded by another ccapki: said once
        self._file = store_file(store)  # its SQLite file deleted or replaced: claim nothing
        self._thread: threading.Thread | None = None
        self._current: _Context | None = None
        self._handlers: dict[str, Callable[[Store, _Context], object]] = {
            "apply": self._apply,
            "probe": self._probe,
            "backup": self._backup,
            "renew": self._renew,
            "acme": self._acme,
        }

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        """Start the runner's thread (it claims and runs jobs until :meth:`stop`)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"ccapki-jobs-{self.instance_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop claiming; a running job stops at its next safe point and is given back
        (another instance, or this one started again, takes it at once). Waits up to
        ``timeout`` seconds for the thread."""
        self._stopping.set()
        current = self._current
        if current is not None and not current.stop.is_set():
            current.why = "shutdown"
            current.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        away = False  # the database: said once when it goes away, once when it is back
        jammed = False  # a busy store (another writer's lock): said once while it lasts
        while not self._stopping.is_set():
            try:
                ran = self.run_once()
            except Exception as exc:  # log, wait, look again
                busy = database_busy(exc)
                down = database_unreachable(exc)
                if busy is not None:
                    if not jammed:
                        log.warning("the job runner waits for the store: %s", busy.message)
                elif down is None:
                    log.exception("the job runner could not claim a job")
                elif not away:
                    log.warning("the job runner waits for the database: %s", down[0])
                away, jammed, ran = down is not None, busy is not None, False
            else:
                if away:
                    log.warning("the job runner reaches the database again")
                away = jammed = False
            if not ran:
                self._stopping.wait(self.poll)

    # ------------------------------------------------------------------ one job

    def run_once(self) -> bool:
        """Claim one job and run it to its end here (in the caller's thread). Returns
        whether there was one."""
        moved = STORE_REPLACED if store_file_moved(self._file) else self.store.schema_moved()
        if moved is not None:  # another ccapki upgraded the store: claim nothing
            if not self._moved_said:
                log.warning("the job runner waits: %s", schema_moved_words(moved)[0])
                self._moved_said = True
            return False
        self._moved_said = False
        job = self.store.jobs.claim(self.instance_id, self.lease, self.kinds)
        if job is None:
            return False
        self.run(job)
        return True

    def run(self, job: JobRecord) -> None:
        """Run ``job`` (claimed by this instance) to its end: renew the lease while it
        runs, finish it done, failed or cancelled (or give it back when the runner stops,
        or nothing when another instance took it over). Raises nothing."""
        ctx = _Context(job)
        if job.kind == "apply" and job.attempts > 1:
            # taken over: its progress stays what the last attempt recorded (the earlier
            # attempts' counts with it) until this one counts, never {} in between
            ctx.progress.update(job.progress)
        self._current = ctx
        if self._stopping.is_set():
            ctx.why = "shutdown"
            ctx.stop.set()
        beat = threading.Thread(
            target=self._heartbeats, args=(ctx,), name=f"ccapki-job-{job.id}-lease", daemon=True
        )
        beat.start()
        try:
            self._execute(ctx)
        finally:
            ctx.ended.set()
            beat.join()
            self._current = None

    def _execute(self, ctx: _Context) -> None:
        job = ctx.job
        handler = self._handlers.get(job.kind)
        store = self.store.fork(deployment=job.deployment, actor=job.created_by)
        try:
            if handler is None:
                raise InputError(f"no job kind {job.kind!r}", f"the kinds: {', '.join(KINDS)}")
            ctx.checkpoint()
            _creator_allowed(store, job)  # disabled or demoted since: nothing in their name
            result = handler(store, ctx)
        except (_Stop, Interrupted) as exc:
            hint = exc.hint if isinstance(exc, Interrupted) else ""
            self._stopped(ctx, hint)
        except CcapkiError as exc:  # a renew job whose ACME order failed says what it did
            self._finish(ctx, JobState.FAILED, result=ctx.partial, error=_error_text(exc))
        except Exception as exc:
            busy = database_busy(exc)
            if busy is not None:  # another writer's lock, not a bug: no traceback
                log.warning("job %s (%s) failed: %s", job.id, job.kind, busy.message)
                why = f"{busy.message}{_HINT_SEP}run it again once the other writer is done"
                self._finish(ctx, JobState.FAILED, error=why)
                return
            down = database_unreachable(exc)
            if down is not None:  # a state of the database, not a bug: no traceback
                log.warning("job %s (%s) failed: %s", job.id, job.kind, down[0])
                why = f"{down[0]}{_HINT_SEP}{down[1]}"
                self._finish(ctx, JobState.FAILED, error=f"{why}, then run it again")
                return
            log.exception("job %s (%s) failed", job.id, job.kind)
            self._finish(
                ctx,
                JobState.FAILED,
                error=f"internal error (a ccapki bug){_HINT_SEP}the service's log has the "
                f"details of job {job.id}; report it",
            )
        else:
            self._finish(ctx, JobState.DONE, result=result)
        finally:
            store.close()

    def _stopped(self, ctx: _Context, hint: str) -> None:
        job = ctx.job
        if ctx.why == "lost":
            log.warning("job %s was taken over by another instance", job.id)
            return
        if ctx.why == "shutdown":
            # give it back: a lease that ended lets the next claim take it at once
            with ctx.lease_lock:
                ctx.given_back = True
                self.store.jobs.heartbeat(job.id, self.instance_id, _GIVE_BACK, self._progress(ctx))
            return
        note = f"cancelled{_HINT_SEP}{hint}" if hint else "cancelled"
        self._finish(ctx, JobState.CANCELLED, result=ctx.partial, error=note)

    def _finish(
        self, ctx: _Context, state: JobState, *, result: object = None, error: str | None = None
    ) -> None:
        job = ctx.job
        if ctx.progress:  # the last progress (the heartbeats record it only now and then)
            self.store.jobs.heartbeat(job.id, self.instance_id, self.lease, self._progress(ctx))
        if not self.store.jobs.finish(job.id, self.instance_id, state, result=result, error=error):
            log.warning("job %s was no longer this instance's when it ended", job.id)

    @staticmethod
    def _progress(ctx: _Context) -> dict[str, object]:
        # a copy first (one C call: the job's thread may add a key meanwhile)
        return {k: v for k, v in dict(ctx.progress).items() if not k.startswith("_")}

    def _heartbeats(self, ctx: _Context) -> None:
        """Renew the lease (and record the progress) every third of it until the job ends,
        also while it goes on to its next safe point (see :meth:`_beat`)."""
        every = max(0.05, min(self.lease.total_seconds() / 3, 2.0))
        while not ctx.ended.wait(every) and ctx.why != "lost":
            self._beat(ctx)

    def _beat(self, ctx: _Context) -> None:
        """One heartbeat: renew the lease and record the progress. Refused, it asks the job
        to stop: cancelled (the lease is still renewed) or another instance owns it now."""
        job = ctx.job
        try:
            with ctx.lease_lock:
                if ctx.given_back:
                    return
                kept = self.store.jobs.heartbeat(
                    job.id, self.instance_id, self.lease, self._progress(ctx)
                )
            if kept:
                return
            owner = self.store.jobs.get(job.id).owner
        except Exception as exc:  # the database is busy or away: try again at the next beat
            busy, down = database_busy(exc), database_unreachable(exc)
            why = busy.message if busy is not None else down[0] if down is not None else None
            if why is not None:  # busy: said as busy, not as an unreachable database
                log.warning("job %s: the lease could not be renewed: %s", job.id, why)
            else:
                log.warning("job %s: the lease could not be renewed", job.id, exc_info=True)
            return
        ctx.why = "cancel" if owner == self.instance_id else "lost"
        ctx.stop.set()

    # ------------------------------------------------------------------ the kinds

    @staticmethod
    def _deployment(store: Store, ctx: _Context) -> Deployment:
        from ccapki.api import parse_deployment

        params = ctx.job.params
        if "text" in params:
            return parse_deployment(str(params["text"]), str(params.get("path") or "<uploaded>"))
        kept = store.deployments.latest()
        if kept is None:
            raise NotFoundError(
                f"the store holds no deployment file of {store.deployment!r}",
                "apply the deployment's file first",
            )
        return parse_deployment(kept.text, kept.path or "<stored deployment>")

    def _apply(self, store: Store, ctx: _Context) -> object:
        from ccapki import api

        dep = self._deployment(store, ctx)
        path = ctx.job.params.get("path")
        # taken over (its instance died or stopped): what the earlier attempts kept counts
        carried, last_total = (
            _earlier_attempts(ctx.job.progress) if ctx.job.attempts > 1 else ([], None)
        )
        earlier: list[dict[str, int]] | None = None

        def settle(total: int) -> int:
            """The earlier attempts, once this one knows how many identities it has to
            issue (``total``): the last one kept what it had to issue and this one has
            not. Returns how many they kept in all."""
            nonlocal earlier
            if earlier is None:
                earlier = list(carried)
                if last_total is not None:
                    kept = min(last_total, max(0, last_total - total))
                    earlier.append({"kept": kept, "of": last_total})
                if earlier:
                    ctx.progress["earlier"] = earlier
                else:
                    ctx.progress.pop("earlier", None)
            return sum(e["kept"] for e in earlier)

        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            before = settle(total)  # the whole job's count: the earlier attempts' too
            ctx.progress.update(done=before + done, total=before + total)
            if time.monotonic() - last >= _PROGRESS_EVERY:  # a cancel is seen soon
                last = time.monotonic()
                self._beat(ctx)
            if ctx.stop.is_set():  # between two identities: what was committed stays
                raise Interrupted(signal.SIGTERM, "")

        report: dict[str, object] = {}
        ctx.checkpoint()
        try:
            result = api.apply(
                store,
                dep,
                path=str(path) if path is not None else None,
                progress=progress,
                report=report,
                roll_back=True,
            )
        except Interrupted as exc:
            # what stays: the identities committed (and nothing else when none was)
            kept = list(report.get("kept", []))  # type: ignore[call-overload]
            total = _count(report.get("total"))
            ctx.partial = {
                "deployment": dep.name,
                "kept": kept,
                "total": total,
                **({"rolled_back": report["rolled_back"]} if "rolled_back" in report else {}),
            }
            before = settle(total if total is not None else len(kept))
            # the progress counted identities issued in the batch the cancel rolled back:
            # it ends saying what stays ("done 13" beside "11 of 43 were kept" before)
            ctx.progress["done"] = before + len(kept)
            if earlier:  # the whole job's, each attempt said (apply's hint says this one's)
                attempts = [*earlier, {"kept": len(kept), "of": total or 0}]
                words = _attempts_words(attempts)
                ctx.partial.update(attempts=attempts, summary=words)
                ours = f"{len(kept)} of {total} identities were kept"
                if exc.hint.startswith(ours):
                    whole = before + (total or 0)
                    exc.hint = (
                        f"{before + len(kept)} of {whole} identities were kept ({words})"
                        + exc.hint[len(ours) :]
                    )
            raise
        issued = len(result.issued)
        total = _count(report.get("total"))
        before = settle(total if total is not None else issued)
        ctx.progress.update(done=before + issued, total=before + issued)
        out: dict[str, object] = {
            "deployment": dep.name,
            "issued": before + issued,  # the whole job's: the earlier attempts' too
            "created_cas": list(result.created_cas),
            "trust_added": len(result.trust_added),
            "not_in_file": list(result.not_in_file),
            "renamed_from": result.renamed_from,
            "issued_elsewhere": list(result.issued_elsewhere),
        }
        if earlier:
            attempts = [*earlier, {"kept": issued, "of": total if total is not None else issued}]
            out.update(attempts=attempts, summary=_attempts_words(attempts))
        return out

    def _probe(self, store: Store, ctx: _Context) -> object:
        from ccapki import api

        dep = self._deployment(store, ctx)
        p = ctx.job.params
        timeout = p.get("timeout")
        ctx.checkpoint()
        run = api.probe_endpoints(
            store,
            dep,
            target=str(p.get("target", "auto")),
            concurrency=int(p.get("concurrency", 64)),  # type: ignore[call-overload]
            timeout=float(timeout) if timeout is not None else None,  # type: ignore[arg-type]
            retries=int(p.get("retries", 1)),  # type: ignore[call-overload]
        )
        return run.to_dict()

    def _backup(self, store: Store, ctx: _Context) -> object:
        from ccapki.lifecycle.backups import create_backup

        passphrase = self._backup_passphrase or os.environ.get(BACKUP_PASSPHRASE_ENV)
        if not passphrase:
            raise _no_backup_passphrase()
        self.backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = store.now().strftime("%Y%m%dT%H%M%SZ")
        path = self.backup_dir / f"ccapki-{stamp}-job{ctx.job.id}.backup"
        ctx.checkpoint()
        # skip_damaged: back up all but the keys whose sealed bytes do not open (named)
        skip = bool(ctx.job.params.get("skip_damaged", False))
        try:
            summary = create_backup(store, path, passphrase, skip_damaged=skip)
        except CcapkiError as exc:  # a damaged key: the service's way to skip it too
            if skip or "--skip-damaged" not in exc.hint:
                raise
            exc.hint += '; through the service: POST /api/v1/backups with {"skip_damaged": true}'
            raise
        return {
            "path": summary.path,
            "bytes": summary.bytes,
            "identities": summary.identities,
            "records": dict(summary.counts),
            "created_at": summary.created_at.isoformat(),
            **({"skipped": summary.skipped.as_json()} if summary.skipped else {}),
        }

    def _renew(self, store: Store, ctx: _Context) -> object:
        from ccapki import api

        dep = self._deployment(store, ctx)
        p = ctx.job.params
        names = [str(n) for n in p.get("names", [])]  # type: ignore[attr-defined]
        plan = api.plan_renewal(store, dep, names=names, due=bool(p.get("due", True)))
        # ACME identities are ordered after the commit, as `ccapki renew --commit` does
        from ccapki.lifecycle.acme import renewal_orders

        acme = renewal_orders(plan)
        ctx.progress.update(planned=len(plan.items) + len(acme))
        ctx.checkpoint()  # between the plan and the commit: nothing written yet
        result = api.commit_renewal(store, dep, plan) if not plan.empty else api.RenewalResult()
        out: dict[str, object] = {"planned": len(plan.items), **result.to_dict()}
        if not acme:
            return out
        notes: list[str] = []
        orders: dict[str, object] = {"notes": notes, "orders": []}
        out["acme"] = orders
        ctx.partial = out  # a failed order fails the job: what was renewed stays said
        self._order(store, dep, acme, notes, orders, renewed=len(result.renewed), plan=plan)
        return out

    @staticmethod
    def _order(
        store: Store,
        dep: Deployment,
        names: list[str],
        notes: list[str],
        into: dict[str, object],
        *,
        renewed: int | None = None,
        plan: RenewalPlan | None = None,
    ) -> None:
        """Order ``names`` through ACME (:func:`ccapki.lifecycle.acme.order_identities`, as
        ``ccapki acme order``), each order's summary into ``into["orders"]``. Raises
        :class:`~ccapki.lifecycle.acme.AcmeError` when any failed (the others are stored;
        ``renewed``: how many identities the renew job renewed before, kept too). With the
        renew job's ``plan``, as ``ccapki renew --commit``: what another run orders (or
        ordered meanwhile) is not ordered again, but said in ``into["elsewhere"]``
        (:func:`ccapki.lifecycle.acme.order_renewals`)."""
        from ccapki.lifecycle.acme import AcmeError, order_identities, order_renewals

        if plan is not None:
            ordered = order_renewals(store, dep, plan, report=notes.append)
            outcomes = ordered.outcomes
            into["elsewhere"] = [e.to_dict() for e in ordered.elsewhere]
        else:
            outcomes = order_identities(store, dep, names, report=notes.append)
        into["orders"] = [o.to_dict() for o in outcomes]
        failed = [o for o in outcomes if o.error is not None]
        if failed:
            first = failed[0].error
            assert first is not None
            done = len(outcomes) - len(failed)
            kept = f"; the {renewed} other renewal(s) are kept" if renewed else ""
            raise AcmeError(
                f"{len(failed)} of {len(outcomes)} ACME orders failed "
                f"({done} stored{kept}): {first.message}",
                f"{first.hint} (the key stays sealed, pending: the next order takes it up)",
            )

    def _acme(self, store: Store, ctx: _Context) -> object:
        from ccapki.lifecycle.acme import due_identities

        dep = self._deployment(store, ctx)
        p = ctx.job.params
        names = [str(n) for n in p.get("names", [])]  # type: ignore[attr-defined]
        if not names and p.get("due", True):
            names = due_identities(store, dep, store.now())
        ctx.progress.update(planned=len(names))
        ctx.checkpoint()  # before the orders: nothing asked of the CA yet
        if not names:
            return {"notes": [], "orders": []}
        notes: list[str] = []
        out: dict[str, object] = {"notes": notes, "orders": []}
        self._order(store, dep, names, notes, out)
        ctx.progress.update(done=len(out["orders"]))  # type: ignore[arg-type]
        return out


# ---------------------------------------------------------------------------- routes


class JobOut(BaseModel):
    """A background job as the API shows it."""

    id: int
    kind: str = Field(description="apply, probe, backup, renew or acme")
    deployment: str | None
    params: dict[str, Any] = Field(
        description="The job's parameters (an uploaded deployment file's text left out)."
    )
    state: JobState
    created_by: str | None
    created_at: dt.datetime
    owner: str | None = Field(description="The instance running it (or that ran it last).")
    lease_until: dt.datetime | None
    attempts: int = Field(description="How many times an instance claimed it.")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancel_requested: bool
    progress: dict[str, Any] = Field(
        description="e.g. {'done': 120, 'total': 3000}; an apply taken over after a restart "
        "counts the whole job, with 'earlier': what each earlier attempt kept ('kept', 'of')"
    )
    result: Any = Field(default=None, description="What the job did (when done).")
    error: str | None = Field(default=None, description="Why it failed or stopped.")
    hint: str | None = Field(default=None, description="What to do about it.")


def job_out(job: JobRecord) -> JobOut:
    """``job`` as the API shows it (:class:`JobOut`)."""
    error, hint = split_error(job.error)
    params = {k: v for k, v in job.params.items() if k != "text"}
    if "text" in job.params:
        params["text_bytes"] = len(str(job.params["text"]).encode())
    return JobOut(
        id=job.id,
        kind=job.kind,
        deployment=job.deployment,
        params=params,
        state=job.state,
        created_by=job.created_by,
        created_at=job.created_at,
        owner=job.owner,
        lease_until=job.lease_until,
        attempts=job.attempts,
        started_at=job.started_at,
        finished_at=job.finished_at,
        cancel_requested=job.cancel_requested,
        progress=dict(job.progress),
        result=job.result,
        error=error,
        hint=hint,
    )


router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@router.get("", response_model=list[JobOut], summary="List background jobs, newest first")
def list_jobs(
    request: Request,
    _user: Annotated[UserRecord, Depends(require(Role.VIEWER))],
    state: Annotated[list[JobState] | None, Query(description="Only jobs in these states")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """The newest ``limit`` jobs (in ``state``), newest first."""
    return [job_out(j) for j in _store(request).jobs.list(state, limit)]


@router.get("/{job_id}", response_model=JobOut, summary="One job: state, progress, result")
def get_job(
    request: Request,
    job_id: int,
    _user: Annotated[UserRecord, Depends(require(Role.VIEWER))],
) -> JobOut:
    """Job ``job_id``: its state, progress, result or error (404 when there is none)."""
    return job_out(_store(request).jobs.get(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job")
def cancel_job(
    request: Request,
    job_id: int,
    user: Annotated[UserRecord, Depends(require(Role.OPERATOR))],
) -> JobOut:
    """Cancel a queued job at once, or ask a running one to stop at its next safe point
    (``cancel_requested``; it ends ``cancelled``). A finished job stays as it is. Stopping
    a job needs the role its kind needs (an operator may not stop an admin's backup)."""
    store = _store(request)
    needed = _ROLES.get(store.jobs.get(job_id).kind, Role.OPERATOR)
    if not user.role.allows(needed):
        from ccapki.service.problems import ProblemException

        raise ProblemException(
            403,
            f"user {user.name!r} is {user.role.value}; cancelling a job of this kind needs "
            f"{needed.value} (as queuing it does)",
            f"ask an admin to cancel job {job_id} (`POST /api/v1/jobs/{job_id}/cancel`)",
            type_="forbidden",
        )
    job = store.jobs.cancel(job_id)
    with store.fork(deployment=job.deployment, actor=user.name) as s, s.transaction():
        s.audit.record("job-cancel", str(job_id), kind=job.kind, state=job.state.value)
    return job_out(job)
