"""Issue 12 item 4: the watcher's Prometheus metrics, scraped over HTTP from a real
``prometheus_client`` server on 127.0.0.1 and read with its text parser; names, types and
labels compared with docs/metrics.md.

The watcher runs over a real store holding the FAQ deployment; its probe function is
injected (the probe engineer's module is tested on its own): it keeps results in
``store.probes`` as a probe does, built from the certificates the store really holds.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ccapki.lifecycle.metrics import METRICS, WatchMetrics
from ccapki.lifecycle.notify import Notifier
from ccapki.lifecycle.status import days_left, estate_status
from ccapki.lifecycle.watch import Watcher
from ccapki.store.records import ProbeRecord, ProbeVerdict
from ccapki.store.session import Store
from ccapki.topology.model import Deployment
from kit.certs import NOW, issue, pem, sha256
from kit.cli import FAQ, REPO, Cli, ok, write
from kit.receivers import WebhookReceiver

from .conftest import PASSPHRASE

DOC = REPO / "docs" / "metrics.md"
EXPIRES = dt.datetime(2027, 12, 29, tzinfo=dt.UTC)  # the FAQ's identities (397 days)
IN_30 = EXPIRES - dt.timedelta(days=20)


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """docs/metrics.md's table: name -> (type, labels)."""
    out = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `(ccapki_\w+)` \| (\w+) \| ([^|]*) \|", line)
        if m:
            labels = tuple(re.findall(r"`(\w+)`", m.group(3)))
            out[m.group(1)] = (m.group(2), labels)
    return out


def _scrape(port: int) -> dict[str, tuple[str, list[Sample]]]:
    """/metrics over HTTP, parsed: exposed name -> (type, samples)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/plain")
    out = {}
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    for fam in families:
        base = fam.name.removesuffix("_created")
        if base != fam.name and base in names:  # a counter's or histogram's _created
            continue
        name = fam.name + ("_total" if fam.type == "counter" else "")
        out[name] = (fam.type, list(fam.samples))
    return out


@pytest.fixture
def served() -> Iterator[tuple[WatchMetrics, int]]:
    metrics = WatchMetrics("9.9.9")
    server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    try:
        yield metrics, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _store_at(home: Path, when: dt.datetime) -> Store:
    return Store.open(home, passphrase=lambda: PASSPHRASE, clock=lambda: when)


def _probe_records(store: Store, now: dt.datetime) -> list[ProbeRecord]:
    """What a probe of three endpoints would keep: cam-a serving the current cam
    certificate, cas-dorm-b a certificate installed by hand, cas-clinic not answering."""
    cam = store.identities.current()["cam"]
    chain = "".join(pem(c).decode() for c in (cam.certificate, *cam.chain))  # as a probe keeps it
    stranger = issue(None, "cas-dorm-b.example.edu", now=NOW, days=100)
    return [
        ProbeRecord(
            "cam-a",
            "admin",
            "127.0.0.1:8443",
            now,
            ProbeVerdict.EXPECTED,
            "ok",
            protocol="TLSv1.3",
            leaf_sha256=cam.fingerprint,
            chain_pem=chain,
            identity="cam",
            version=cam.version,
            latency_ms=12,
        ),
        ProbeRecord(
            "cas-dorm-b",
            "control",
            "127.0.0.1:8444",
            now,
            ProbeVerdict.UNKNOWN,
            "by hand",
            protocol="TLSv1.2",
            leaf_sha256=sha256(stranger.cert),
            chain_pem=stranger.cert.public_bytes(serialization.Encoding.PEM).decode(),
            latency_ms=30,
        ),
        ProbeRecord(
            "cas-clinic",
            "control",
            "127.0.0.1:8445",
            now,
            ProbeVerdict.UNREACHABLE,
            "refused",
        ),
    ]


def _watcher(home: Path, when: dt.datetime, metrics: WatchMetrics, *, probe: bool) -> Watcher:
    def status(store: Store, dep: Deployment, now: dt.datetime) -> Sequence[object]:
        return estate_status(store, now=now, deployments=[dep.name]).items

    def probe_fn(store: Store, dep: Deployment, now: dt.datetime) -> list[ProbeRecord]:
        return store.probes.add(_probe_records(store, now))

    def trust(store: Store, dep: Deployment, now: dt.datetime) -> tuple[int, int]:
        from ccapki.api import check_trust

        m = check_trust(store, dep, now)
        return sum(c.ok is False for c in m.cells), sum(bool(c.ok and c.warnings) for c in m.cells)

    return Watcher(
        open_store=lambda: _store_at(home, when),
        status=status,  # type: ignore[arg-type]
        clock=lambda: when,
        probe=probe_fn if probe else None,
        trust=trust,
        metrics=metrics,
        env={"HOOK_SECRET": "s3cret"},
        notifier=Notifier,
    )


def _faq_with_hook(cli: Cli, tmp_path: Path, url: str) -> Path:
    text = FAQ.read_text()
    text += f'\n[notify]\nwebhook = "{url}"\nwebhook_secret_env = "HOOK_SECRET"\n'
    return write(tmp_path / "faq.toml", text)


def test_exposed_names_types_and_labels_are_the_documented_ones(
    cli: Cli, tmp_path: Path, served: tuple[WatchMetrics, int]
) -> None:
    metrics, port = served
    with WebhookReceiver("s3cret") as hook:
        ok(cli("init"))
        ok(cli("apply", _faq_with_hook(cli, tmp_path, hook.url)))
        assert cli.home is not None
        result = _watcher(cli.home, IN_30, metrics, probe=True).run_once()
    assert result.ok, result
    assert len(hook.payloads()) == 6 + 1  # six in their 30-day stage, one drift
    exposed = _scrape(port)
    documented = _documented()
    assert set(documented) == set(METRICS)  # the page and the code list the same
    assert set(exposed) == set(documented)
    for name, (kind, labels) in documented.items():
        assert METRICS[name][0] == kind
        assert METRICS[name][1] == labels
        etype, samples = exposed[name]
        assert etype == kind, name
        assert samples, name
        for s in samples:
            if s.name.endswith("_created"):
                continue
            assert set(s.labels) - {"le"} == set(labels), (name, s)


def _values(
    exposed: dict[str, tuple[str, list[Sample]]], name: str
) -> dict[tuple[str, ...], float]:
    _, labels = METRICS[name][:2]
    return {
        tuple(s.labels[k] for k in labels): s.value
        for s in exposed[name][1]
        if s.name in (name, name.removesuffix("_total") + "_total")
        and not s.name.endswith("_created")
    }


def test_values_per_identity_appliance_and_endpoint(
    cli: Cli, tmp_path: Path, served: tuple[WatchMetrics, int]
) -> None:
    metrics, port = served
    ok(cli("init"))
    ok(cli("apply", _faq_with_hook(cli, tmp_path, "http://127.0.0.1:9/unused")))
    assert cli.home is not None
    dep = "faq-campus"
    # no receiver: the run fails (its notifications are not sent), the metrics are set
    result = _watcher(cli.home, IN_30, metrics, probe=True).run_once()
    assert not result.ok
    got = _scrape(port)
    days = _values(got, "ccapki_certificate_days_left")
    # an HA pair: one series per peer; a standalone CAS: one
    assert days[(dep, "cam", "cam-a", "identity")] == 20
    assert days[(dep, "cam", "cam-b", "identity")] == 20
    assert days[(dep, "cas-clinic", "cas-clinic", "identity")] == 20
    assert not [k for k in days if k[1] == "cas-dorm" and k[2] == ""]
    roots = [k for k in days if k[3] == "trust-root"]  # one per appliance
    assert len(roots) == 10
    assert all(k[2] and k[1].startswith("root CA") for k in roots)
    cas = [k for k in days if k[3] == "ca"]
    assert len(cas) == 2
    assert all(k[2] == "" for k in cas)
    expiry = _values(got, "ccapki_certificate_expiry_timestamp_seconds")
    assert expiry[(dep, "cam", "cam-a", "identity")] == EXPIRES.timestamp()
    verdict = _values(got, "ccapki_probe_verdict")
    assert verdict[(dep, "cam-a", "admin", "expected")] == 1
    assert verdict[(dep, "cam-a", "admin", "stale")] == 0
    assert verdict[(dep, "cas-dorm-b", "control", "unknown")] == 1
    assert verdict[(dep, "cas-clinic", "control", "unreachable")] == 1
    assert sum(v for k, v in verdict.items() if k[1] == "cas-clinic") == 1
    latency = _values(got, "ccapki_probe_latency_seconds")
    assert latency == {(dep, "cam-a", "admin"): 0.012, (dep, "cas-dorm-b", "control"): 0.03}
    served_left = _values(got, "ccapki_served_days_left")
    assert served_left[(dep, "cam-a", "admin")] == 20
    # the hand-installed one (100 days from NOW) expired long before
    with _store_at(cli.home, IN_30) as store:
        kept = {r.appliance: r for r in store.probes.latest()}
    stranger = x509.load_pem_x509_certificate(str(kept["cas-dorm-b"].chain_pem).encode())
    want = days_left(stranger.not_valid_after_utc, IN_30)
    assert want < -270
    assert served_left[(dep, "cas-dorm-b", "control")] == want
    assert _values(got, "ccapki_runs_total")[(dep, "failed")] == 1
    assert _values(got, "ccapki_trust_check_failures")[(dep,)] == 0
    assert _values(got, "ccapki_trust_check_warnings")[(dep,)] > 0
    assert _values(got, "ccapki_last_success_timestamp_seconds") == {}  # no run did it all
    notified = _values(got, "ccapki_notifications_total")
    assert notified[(dep, "expiry", "webhook", "failed")] == 6
    assert notified[(dep, "drift", "webhook", "failed")] == 1
    assert _values(got, "ccapki_build_info") == {("9.9.9",): 1}


def test_series_gone_from_the_newest_run_are_removed(
    cli: Cli, tmp_path: Path, served: tuple[WatchMetrics, int]
) -> None:
    metrics, port = served
    ok(cli("init"))
    ok(cli("apply", _faq_with_hook(cli, tmp_path, "http://127.0.0.1:9/unused")))
    assert cli.home is not None
    watcher = _watcher(cli.home, NOW, metrics, probe=True)
    watcher.run_once()
    before = _values(_scrape(port), "ccapki_probe_verdict")
    assert any(k[1] == "cas-clinic" for k in before)
    # the next run probes nothing (the kept results of the first are the newest): same
    watcher.probe = None
    watcher.run_once()
    assert _values(_scrape(port), "ccapki_probe_verdict") == before

    def two(store: Store, dep: Deployment, now: dt.datetime) -> list[ProbeRecord]:
        return store.probes.add(_probe_records(store, now)[:2])

    watcher.probe = two  # cas-clinic no longer probed: its series go
    watcher.run_once()
    after = _values(_scrape(port), "ccapki_probe_verdict")
    assert {k[1] for k in after} == {"cam-a", "cas-dorm-b"}
    # an identity gone from the status: its series go, the others stay
    with _store_at(cli.home, NOW) as store:
        items = estate_status(store, now=NOW).items
    members = {"cam": ("cam-a", "cam-b")}
    metrics.update_status("faq-campus", items, members, NOW)
    assert any(k[1] == "cas-annex" for k in _values(_scrape(port), "ccapki_certificate_days_left"))
    metrics.update_status("faq-campus", [i for i in items if i.name != "cas-annex"], members, NOW)
    days = _values(_scrape(port), "ccapki_certificate_days_left")
    assert not any(k[1] == "cas-annex" for k in days)
    assert any(k[1] == "cas-clinic" for k in days)
    metrics.forget("faq-campus")  # a deployment gone from the store
    gone = _scrape(port)
    assert _values(gone, "ccapki_certificate_days_left") == {}
    assert _values(gone, "ccapki_trust_check_failures") == {}
    assert _values(gone, "ccapki_probe_verdict") == {}
