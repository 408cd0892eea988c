"""Prometheus metrics of ``ccapki watch`` (``prometheus_client``, in a registry of their own).

Every name, type and label is listed in docs/metrics.md and kept stable (a test compares
what ``/metrics`` exposes with that page): a name is added, never renamed or removed.

:class:`WatchMetrics` is updated once per deployment and run from values (status items,
probe results, the trust matrix's counts); a deployment's series that are gone from its
newest run (an identity removed, an endpoint no longer probed) are removed with it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from ccapki.store.records import ProbeRecord, ProbeVerdict

if TYPE_CHECKING:
    from cryptography import x509

    from ccapki.lifecycle.notify import StatusItemLike

__all__ = ["METRICS", "WatchMetrics"]

#: name -> (type, labels, help): the documented metrics (docs/metrics.md repeats them)
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "ccapki_certificate_days_left": (
        "gauge",
        ("deployment", "identity", "appliance", "kind"),
        "Whole days until the certificate the store holds expires (negative: expired), per "
        "identity and appliance serving it; kind is identity, ca or trust-root.",
    ),
    "ccapki_certificate_expiry_timestamp_seconds": (
        "gauge",
        ("deployment", "identity", "appliance", "kind"),
        "The notAfter of the certificate the store holds, in Unix seconds.",
    ),
    "ccapki_served_days_left": (
        "gauge",
        ("deployment", "appliance", "endpoint"),
        "Whole days until the certificate an endpoint presented at the last probe expires.",
    ),
    "ccapki_probe_verdict": (
        "gauge",
        ("deployment", "appliance", "endpoint", "verdict"),
        "1 for the verdict of the endpoint's last probe, 0 for every other verdict.",
    ),
    "ccapki_probe_latency_seconds": (
        "gauge",
        ("deployment", "appliance", "endpoint"),
        "How long the endpoint's last probe took (connect and TLS handshake), in seconds.",
    ),
    "ccapki_probe_handshake_seconds": (
        "histogram",
        ("deployment",),
        "Probe latency of every endpoint probed by the watcher, in seconds.",
    ),
    "ccapki_trust_check_failures": (
        "gauge",
        ("deployment",),
        "Channels (appliance x channel) that fail the trust check (ccapki trust check).",
    ),
    "ccapki_trust_check_warnings": (
        "gauge",
        ("deployment",),
        "Channels that pass the trust check but rely on a certificate due for renewal.",
    ),
    "ccapki_last_success_timestamp_seconds": (
        "gauge",
        ("deployment",),
        "When the last run that did all its work (probe, status, trust check, every "
        "notification sent) ended, in Unix seconds.",
    ),
    "ccapki_run_duration_seconds": (
        "gauge",
        ("deployment",),
        "How long the deployment's last run took, in seconds.",
    ),
    "ccapki_runs_total": (
        "counter",
        ("deployment", "outcome"),
        "Runs of the watcher by outcome (ok, failed) since it started.",
    ),
    "ccapki_notifications_total": (
        "counter",
        ("deployment", "event", "channel", "outcome"),
        "Notifications by event (expiry, drift), channel (webhook, email) and outcome "
        "(sent, failed) since the watcher started.",
    ),
    "ccapki_build_info": (
        "gauge",
        ("version",),
        "Always 1; the ccapki version in its label.",
    ),
}

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DAY = 86400.0


Labels = tuple[str, ...]


class WatchMetrics:
    """The watcher's metrics in their own :class:`CollectorRegistry` (``registry``)."""

    def __init__(self, version: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry

        def g(name: str) -> Gauge:
            _, labels, doc = METRICS[name]
            return Gauge(name, doc, labels, registry=r)

        def c(name: str) -> Counter:
            _, labels, doc = METRICS[name]
            return Counter(name.removesuffix("_total"), doc, labels, registry=r)

        self.days_left = g("ccapki_certificate_days_left")
        self.expiry = g("ccapki_certificate_expiry_timestamp_seconds")
        self.served_days_left = g("ccapki_served_days_left")
        self.verdict = g("ccapki_probe_verdict")
        self.latency = g("ccapki_probe_latency_seconds")
        _, labels, doc = METRICS["ccapki_probe_handshake_seconds"]
        self.handshake = Histogram(
            "ccapki_probe_handshake_seconds", doc, labels, registry=r, buckets=_LATENCY_BUCKETS
        )
        self.trust_failures = g("ccapki_trust_check_failures")
        self.trust_warnings = g("ccapki_trust_check_warnings")
        self.last_success = g("ccapki_last_success_timestamp_seconds")
        self.duration = g("ccapki_run_duration_seconds")
        self.runs = c("ccapki_runs_total")
        self.notifications = c("ccapki_notifications_total")
        g("ccapki_build_info").labels(version or "unknown").set(1)
        # (metric, deployment) -> the label sets set at the deployment's last update
        self._series: dict[tuple[int, str], set[Labels]] = {}

    def _replace(self, gauge: Gauge, deployment: str, values: Mapping[Labels, float]) -> None:
        """Set ``gauge``'s series of ``deployment`` to ``values`` (labels after the
        deployment label); series of the deployment not among them are removed."""
        key = (id(gauge), deployment)
        before = self._series.get(key, set())
        for labels, value in values.items():
            gauge.labels(deployment, *labels).set(value)
        for labels in before - set(values):
            gauge.remove(deployment, *labels)
        self._series[key] = set(values)

    def update_status(
        self,
        deployment: str,
        items: Iterable[StatusItemLike],
        members: Mapping[str, tuple[str, ...]],
        now: dt.datetime,
    ) -> None:
        """The days left of every certificate the store holds for ``deployment``.

        ``members``: identity -> the appliances serving it (an HA pair: both peers).
        An identity's series is one per appliance; a CA's has ``appliance=""``; a
        trust-store root (named ``"<appliance>: <label>"``) is the appliance's, except a
        true self-signed identity's own certificate in trust stores: it is the identity's
        series alone, as ``status`` reports it once, on its identity's row. Pending CSRs
        (no certificate) have none."""
        days: dict[Labels, float] = {}
        expiry: dict[Labels, float] = {}
        items = list(items)
        own = {it.fingerprint for it in items if it.kind == "identity"}
        for it in items:
            if it.not_after is None or it.kind == "csr":
                continue
            if it.kind == "trust-root" and it.fingerprint in own:
                continue  # a true self-signed identity's own: its identity's series
            left = (
                float(it.days_left)
                if it.days_left is not None
                else float((it.not_after - now).total_seconds() // _DAY)
            )
            if it.kind == "trust-root":
                appliance, _, label = it.name.partition(": ")
                where = [(label or it.name, appliance)]
            elif it.kind == "identity":
                where = [(it.name, a) for a in members.get(it.name, ())] or [(it.name, "")]
            else:
                where = [(it.name, "")]
            for identity, appliance in where:
                labels = (identity, appliance, it.kind)
                days[labels] = left
                expiry[labels] = it.not_after.timestamp()
        self._replace(self.days_left, deployment, days)
        self._replace(self.expiry, deployment, expiry)

    def update_probes(
        self,
        deployment: str,
        records: Iterable[ProbeRecord],
        now: dt.datetime,
        *,
        fresh: bool,
        leaf: Callable[[ProbeRecord], x509.Certificate | None] = lambda r: None,
    ) -> None:
        """The last probe of each endpoint of ``deployment``; ``fresh``: the records are
        this run's probes (they also go into the latency histogram). ``leaf`` returns the
        certificate an endpoint presented (None: none)."""
        verdicts: dict[Labels, float] = {}
        latency: dict[Labels, float] = {}
        served: dict[Labels, float] = {}
        for r in records:
            where = (r.appliance, r.kind)
            for v in ProbeVerdict:
                verdicts[(*where, v.value)] = 1.0 if v is r.verdict else 0.0
            if r.latency_ms is not None:
                latency[where] = r.latency_ms / 1000.0
                if fresh:
                    self.handshake.labels(deployment).observe(r.latency_ms / 1000.0)
            cert = leaf(r) if r.verdict.served else None
            if cert is not None:
                left = cert.not_valid_after_utc - now
                served[where] = float(left.total_seconds() // _DAY)
        self._replace(self.verdict, deployment, verdicts)
        self._replace(self.latency, deployment, latency)
        self._replace(self.served_days_left, deployment, served)

    def update_trust(self, deployment: str, failures: int, warnings: int) -> None:
        """The trust check's counts of failing and warning channels."""
        self.trust_failures.labels(deployment).set(failures)
        self.trust_warnings.labels(deployment).set(warnings)

    def run_finished(self, deployment: str, *, ok: bool, seconds: float, at: dt.datetime) -> None:
        """A run of ``deployment`` ended (``ok``: it did all its work) at ``at``."""
        self.runs.labels(deployment, "ok" if ok else "failed").inc()
        self.duration.labels(deployment).set(seconds)
        if ok:
            self.last_success.labels(deployment).set(at.timestamp())

    def notified(self, deployment: str, event: str, channel: str, *, ok: bool) -> None:
        """A notification went out on ``channel`` (``ok``), or failed to."""
        self.notifications.labels(deployment, event, channel, "sent" if ok else "failed").inc()

    def forget(self, deployment: str) -> None:
        """Remove every series of a deployment the store no longer holds."""
        for gauge in (
            self.days_left,
            self.expiry,
            self.verdict,
            self.latency,
            self.served_days_left,
        ):
            self._replace(gauge, deployment, {})
        for gauge in (self.trust_failures, self.trust_warnings, self.last_success, self.duration):
            with contextlib.suppress(KeyError):
                gauge.remove(deployment)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)
