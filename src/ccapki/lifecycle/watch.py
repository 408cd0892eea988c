"""The watcher behind ``ccapki watch``: probe, status, trust check, metrics and
notifications for every deployment of the store, on a schedule.

One :class:`Watcher` holds the schedule (each deployment's ``[monitoring] probe_interval``,
or one interval for all) and the functions a run calls, injected so each part can be
tested on its own: ``status`` (the deployment's status items), ``probe`` (probes its
endpoints, keeps and returns the results; None: no probing), ``trust`` (the trust check's
failing and warning channels). A run of a deployment:

1. records its start in ``store.runs`` (kind ``watch``);
2. probes (unless no ``probe`` function), then reads the status and the trust check;
3. updates the metrics;
4. sends the notices not sent before (:func:`ccapki.lifecycle.notify.deliver`);
5. records its end: ok when it did all of that and every notification went out.

A run never raises for trouble it can report: a busy store, an unreachable endpoint, a
failed notification, even an unexpected exception: it is logged (logger ``ccapki.watch``)
and the next run comes at its time. :meth:`Watcher.serve` loops until its stop event is
set (the CLI sets it on SIGTERM/SIGINT) and returns between two runs, never inside one
deployment's store writes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from cryptography import x509

from ccapki._util import sqlite_trouble
from ccapki.errors import CcapkiError
from ccapki.lifecycle.notify import (
    Delivery,
    Notifier,
    StatusItemLike,
    deliver,
    drift_notices,
    expiry_notices,
)

if TYPE_CHECKING:
    from ccapki.lifecycle.metrics import WatchMetrics
    from ccapki.store.records import ProbeRecord
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment, Notify

__all__ = [
    "DeploymentRun",
    "ProbeFn",
    "StatusFn",
    "TrustFn",
    "WatchRun",
    "Watcher",
    "stored_deployment",
    "watch_clock",
]

log = logging.getLogger("ccapki.watch")

#: the status items of one deployment of the store at ``now``
StatusFn = Callable[["Store", "Deployment", dt.datetime], Sequence[StatusItemLike]]
#: probe the deployment's endpoints, keep the results in the store and return them (None:
#: it has no endpoint to probe now)
ProbeFn = Callable[["Store", "Deployment", dt.datetime], Sequence["ProbeRecord"] | None]
#: (failing, warning) channels of the deployment's trust check at ``now``
TrustFn = Callable[["Store", "Deployment", dt.datetime], tuple[int, int]]
#: the kind of the watcher's runs in ``store.runs``
RUN_KIND = "watch"
#: seconds before a store that could not be opened is tried again (at most)
RETRY_SECONDS = 60.0


def watch_clock(fixed: dt.datetime | None) -> Callable[[], dt.datetime]:
    """The watcher's clock: the real time, or (``fixed`` given: ``CCAPKI_NOW``) that time
    for every run, as every other command sees it."""
    if fixed is None:
        return lambda: dt.datetime.now(dt.UTC)
    return lambda: fixed


@dataclass(frozen=True)
class DeploymentRun:
    """One run of one deployment: ``ok`` when it did all its work; ``errors`` say what it
    could not do."""

    deployment: str
    started: dt.datetime
    seconds: float
    ok: bool
    errors: tuple[str, ...] = ()
    items: int = 0
    warnings: int = 0
    #: rows in no warning stage (``ccapki status``'s "N certificates fine")
    fine: int = 0
    probed: int | None = None  # None: not probed this run
    drift: int = 0
    trust_failures: int | None = None
    deliveries: tuple[Delivery, ...] = ()
    #: endpoints that served a wrong certificate at the last probe (this run's, or the one
    #: before with --no-probe): ``ccapki status``'s "N wrong certificates served"
    wrong_served: int = 0
    #: what ``ccapki status`` exits with for this deployment now: 1 when a certificate is
    #: in a warning stage or an endpoint served a wrong one, else 0
    status_code: int = 0
    #: certificates not valid yet, and stored certificates damaged: CRITICAL to ``ccapki
    #: status`` (its --nagios 2), so counted apart from ``warnings`` and said as it says them
    not_yet_valid: int = 0
    damaged: int = 0
    #: certificates expired (in use): CRITICAL to ``ccapki status`` ("N expired"), so
    #: counted apart from ``warnings``, never hidden among them
    expired: int = 0

    @property
    def sent(self) -> int:
        return sum(1 for d in self.deliveries if not d.skipped and d.ok)

    @property
    def failed(self) -> int:
        return sum(1 for d in self.deliveries if d.failed)

    @property
    def skipped(self) -> int:
        return sum(1 for d in self.deliveries if d.skipped)

    def summary(self) -> str:
        """One line: what the run saw and did."""
        # as `ccapki status` counts (its counts(): a root trusted by several appliances once)
        counted = f"{self.fine} certificates fine, {self.warnings} in a warning stage"
        if self.expired:  # CRITICAL to `status`, as it says it
            counted += f", {self.expired} expired"
        if self.not_yet_valid:  # CRITICAL to `status`, never "a warning stage"
            counted += f", {self.not_yet_valid} not valid yet"
        if self.damaged:
            word = "stored certificate" if self.damaged == 1 else "stored certificates"
            counted += f", {self.damaged} {word} damaged (run `ccapki doctor`)"
        if self.wrong_served:  # `status` exits 1 for it: never a silent "ok"
            word = "certificate" if self.wrong_served == 1 else "certificates"
            counted += f", {self.wrong_served} wrong {word} served at the last probe"
        parts = [counted]
        if self.probed is not None:
            parts.append(f"{self.probed} endpoints probed, {self.drift} drifting")
        if self.trust_failures is not None:
            parts.append(f"{self.trust_failures} trust-check failures")
        parts.append(
            f"notifications: {self.sent} sent, {self.skipped} sent before, {self.failed} failed"
        )
        text = "; ".join(parts)
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "deployment": self.deployment,
            "started": self.started.isoformat(),
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "errors": list(self.errors),
            "certificates": self.items,
            "fine": self.fine,
            "warnings": self.warnings,
            "probed": self.probed,
            "drift": self.drift,
            "trust_failures": self.trust_failures,
            "wrong_served": self.wrong_served,
            "not_yet_valid": self.not_yet_valid,
            "damaged": self.damaged,
            "expired": self.expired,
            "status_exit_code": self.status_code,
            "notifications": [
                {
                    "event": d.notice.event,
                    "subject": d.notice.subject,
                    "stage": d.notice.stage,
                    "fingerprint": d.notice.fingerprint,
                    "result": "sent before" if d.skipped else ("failed" if d.failed else "sent"),
                    "channels": list(d.sent),
                    "failed": [{"channel": c, "reason": r} for c, r in d.failed],
                }
                for d in self.deliveries
            ],
        }


@dataclass(frozen=True)
class WatchRun:
    """One pass over the deployments that were due."""

    runs: tuple[DeploymentRun, ...]
    errors: tuple[str, ...] = ()  # the store could not be opened or listed

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.ok for r in self.runs)


def stored_deployment(store: Store) -> Deployment:
    """The deployment file the store last applied for the deployment it acts on, parsed.

    Raises :class:`~ccapki.errors.StoreError` when it holds none,
    :class:`~ccapki.errors.DeploymentError` when it no longer parses."""
    from ccapki.api import parse_deployment
    from ccapki.errors import StoreError

    kept = store.deployments.latest()
    if kept is None:
        raise StoreError(
            f"deployment {store.deployment} has no deployment file in the store",
            "apply its file (`ccapki apply FILE`)",
        )
    return parse_deployment(kept.text, kept.path or f"<stored deployment {kept.name}>")


def _status_counts(items: Sequence[StatusItemLike], now: dt.datetime) -> dict[str, int]:
    """``ccapki status``'s counts of these items (:meth:`StatusReport.counts`: rows, a
    trust-store root held by several appliances once), and its exit code (``exit_code``)."""
    from ccapki.lifecycle.status import StatusItem, StatusReport

    rows = tuple(cast("Sequence[StatusItem]", items))
    report = StatusReport(now=now, items=rows, warn_days={})
    return {**report.counts(), "exit_code": report.exit_code}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, CcapkiError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Watcher:
    """Runs every deployment of the store on its schedule (see the module's docstring).

    ``open_store``: a new :class:`Store` (opened per pass: a database that was down comes
    back). ``deployments``: the ones to watch (None: every deployment the store holds,
    read again at every pass). ``interval``: seconds between two runs of a deployment
    (None: its ``probe_interval``). ``env``: where the notification secrets' variables
    are read. ``notifier``: makes the deployment's :class:`Notifier`.
    """

    open_store: Callable[[], Store]
    status: StatusFn
    clock: Callable[[], dt.datetime] = field(default_factory=lambda: watch_clock(None))
    probe: ProbeFn | None = None
    trust: TrustFn | None = None
    metrics: WatchMetrics | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    deployments: Sequence[str] | None = None
    interval: float | None = None
    notifier: Callable[[Notify, Mapping[str, str]], Notifier] = Notifier
    #: deployment -> when (time.monotonic) its next run is due
    _due: dict[str, float] = field(default_factory=dict, repr=False)
    _seen: set[str] = field(default_factory=set, repr=False)
    _leaves: dict[str, x509.Certificate] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ one pass

    def run_once(self, stop: threading.Event | None = None, *, only_due: bool = False) -> WatchRun:
        """Run every deployment (``only_due``: those whose time has come) once; returns
        what each run did. Never raises for a failed run (it is in the result and logged)."""
        stop = stop or threading.Event()
        try:
            store = self.open_store()
        except CcapkiError as exc:
            log.error("run failed: %s (hint: %s)", exc.message, exc.hint)
            return WatchRun((), (exc.message,))
        except Exception as exc:
            trouble = sqlite_trouble(exc)
            if trouble is not None:  # the store's file (damaged, locked): one line
                log.error("run failed: the store's database is %s (%s)", *trouble)
            else:
                log.exception("run failed: the store could not be opened")
            return WatchRun((), (_reason(exc),))
        runs: list[DeploymentRun] = []
        try:
            try:
                names = store.deployments.names()
            except Exception as exc:
                log.error("run failed: the store's deployments could not be read: %s", _reason(exc))
                return WatchRun((), (_reason(exc),))
            if self.deployments is not None:
                missing = [n for n in self.deployments if n not in names]
                for n in missing:
                    log.error("deployment %s is not in the store (any more)", n)
                names = [n for n in names if n in self.deployments]
            for gone in self._seen - set(names):
                self._due.pop(gone, None)
                if self.metrics is not None:
                    self.metrics.forget(gone)
            self._seen = set(names)
            now_m = time.monotonic()
            for name in names:
                if stop.is_set():
                    break
                if only_due and self._due.get(name, 0.0) > now_m:
                    continue
                t0 = time.monotonic()
                run, interval = self._run_deployment(store, name, stop)
                runs.append(run)
                self._due[name] = t0 + interval
        finally:
            store.close()
        return WatchRun(tuple(runs))

    def _interval(self, dep: Deployment | None) -> float:
        if self.interval is not None:
            return self.interval
        if dep is not None:
            return float(dep.monitoring.probe_interval)
        from ccapki.topology.model import Monitoring

        return float(Monitoring().probe_interval)

    def _run_deployment(
        self, store: Store, name: str, stop: threading.Event
    ) -> tuple[DeploymentRun, float]:
        started = self.clock()
        t0 = time.monotonic()
        errors: list[str] = []
        dep: Deployment | None = None
        items: Sequence[StatusItemLike] = ()
        probed: int | None = None
        drift = 0
        trust_failures: int | None = None
        deliveries: list[Delivery] = []
        run_id: int | None = None
        with store.scoped(name):
            try:
                run_id = store.runs.start(RUN_KIND)
                dep = stored_deployment(store)
                records: Sequence[ProbeRecord] | None = None
                if self.probe is not None:
                    try:
                        records = self.probe(store, dep, self.clock())
                        if records is None:
                            log.warning(
                                "%s: no endpoint to probe (no lab runs for it, and its file "
                                "names no endpoints); status from the last probe kept",
                                name,
                            )
                        else:
                            probed = len(records)
                    except CcapkiError as exc:
                        errors.append(f"probe: {exc.message}")
                        log.error("%s: probe failed: %s (hint: %s)", name, exc.message, exc.hint)
                fresh = records is not None
                if records is None:
                    records = store.probes.latest()
                now = self.clock()
                items = self.status(store, dep, now)
                if self.trust is not None:
                    try:
                        trust_failures, trust_warnings = self.trust(store, dep, now)
                    except CcapkiError as exc:
                        errors.append(f"trust check: {exc.message}")
                        log.error("%s: trust check failed: %s", name, exc.message)
                    else:
                        if self.metrics is not None:
                            self.metrics.update_trust(name, trust_failures, trust_warnings)
                if self.metrics is not None:
                    self._update_metrics(store, dep, items, records, now, fresh=fresh)
                notices = expiry_notices(items, now)
                drifting = drift_notices(name, records)
                drift = len(drifting)
                notices += drifting
                if notices and dep.monitoring.notify.any:
                    notifier = self.notifier(dep.monitoring.notify, self.env)
                    deliveries = deliver(store, notices, notifier, now=now, stop=stop.is_set)
                    for d in deliveries:
                        self._count(name, d)
                        for ch, why in d.failed:
                            errors.append(f"{ch} notification of {d.notice.subject}: {why}")
                elif notices:
                    log.info(
                        "%s: %d notices due, and [notify] names no webhook or e-mail",
                        name,
                        len(notices),
                    )
            except CcapkiError as exc:
                errors.append(exc.message)
                log.error("%s: run failed: %s (hint: %s)", name, exc.message, exc.hint)
            except Exception as exc:  # a bug must not stop the watcher: logged whole
                trouble = sqlite_trouble(exc)
                errors.append(
                    _reason(exc)
                    if trouble is None
                    else f"the store's database is {trouble[0]} ({trouble[1]})"
                )
                if trouble is not None:  # the store's file (damaged, locked): one line
                    log.error(
                        "%s: run failed: the store's database is %s (%s) (hint: run "
                        "`ccapki doctor`)",
                        name,
                        trouble[0],
                        trouble[1],
                    )
                else:
                    log.exception("%s: run failed", name)
            seconds = time.monotonic() - t0
            counts = _status_counts(items, started)
            run = DeploymentRun(
                deployment=name,
                started=started,
                seconds=seconds,
                ok=not errors,
                errors=tuple(errors),
                # as `status` counts (its rows: a root several appliances trust once; an
                # unused entry, renewed since, warns nobody)
                items=counts["items"],
                warnings=counts["warning"] + counts["missing"],
                expired=counts["expired"],
                not_yet_valid=counts["not_yet_valid"],
                damaged=counts["damaged"],
                fine=counts["ok"],
                wrong_served=counts["wrong_served"],
                status_code=counts["exit_code"],
                probed=probed,
                drift=drift,
                trust_failures=trust_failures,
                deliveries=tuple(deliveries),
            )
            if run_id is not None:
                try:
                    store.runs.finish(run_id, ok=run.ok, summary=run.summary()[:2000])
                except CcapkiError as exc:
                    log.error("%s: the run's end was not recorded: %s", name, exc.message)
        if self.metrics is not None:
            self.metrics.run_finished(name, ok=run.ok, seconds=seconds, at=self.clock())
        level = logging.INFO if run.ok else logging.WARNING
        log.log(level, "%s: run %s: %s", name, "done" if run.ok else "FAILED", run.summary())
        return run, self._interval(dep)

    def _count(self, name: str, d: Delivery) -> None:
        if self.metrics is None or d.skipped:
            return
        for ch in d.sent:
            self.metrics.notified(name, d.notice.event, ch, ok=True)
        for ch, _ in d.failed:
            self.metrics.notified(name, d.notice.event, ch, ok=False)

    def _update_metrics(
        self,
        store: Store,
        dep: Deployment,
        items: Sequence[StatusItemLike],
        records: Sequence[ProbeRecord],
        now: dt.datetime,
        *,
        fresh: bool,
    ) -> None:
        assert self.metrics is not None
        members = {spec.name: tuple(a.name for a in spec.members) for spec in dep.identities}
        self.metrics.update_status(dep.name, items, members, now)

        def leaf(r: ProbeRecord) -> x509.Certificate | None:
            if not r.chain_pem:
                return None
            cert = self._leaves.get(r.chain_pem)
            if cert is None:
                try:  # the first certificate of the chain presented
                    cert = x509.load_pem_x509_certificate(r.chain_pem.encode())
                except ValueError:
                    return None
                self._leaves[r.chain_pem] = cert
            return cert

        self.metrics.update_probes(dep.name, records, now, fresh=fresh, leaf=leaf)
        if len(self._leaves) > 10_000:
            self._leaves.clear()

    # ------------------------------------------------------------------ the loop

    def next_wait(self) -> float:
        """Seconds until the next deployment is due (0: now)."""
        if not self._due:  # no deployment yet: look again later
            return self.interval or RETRY_SECONDS
        return max(0.0, min(self._due.values()) - time.monotonic())

    def serve(self, stop: threading.Event) -> None:
        """Run deployments as they fall due until ``stop`` is set; returns between runs."""
        while not stop.is_set():
            result = self.run_once(stop, only_due=True)
            if result.errors:  # the store could not be opened: try again a bit later
                wait = min(self.interval or RETRY_SECONDS, RETRY_SECONDS)
            else:
                wait = self.next_wait()
            if wait > 0:
                stop.wait(wait)
