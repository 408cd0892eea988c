"""A true self-signed identity (CCA 4.7+, ``source = "self-signed"``) is also the root its
peers trust. ``status`` reports its certificate once, on its identity's row; the watcher's
``ccapki_certificate_days_left`` follows it: the identity's series (one per appliance
serving it), no ``kind="trust-root"`` series again for the same certificate. A damaged
self-signed identity's row still says it is also the root its peers trust."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ccapki.lifecycle.metrics import WatchMetrics
from ccapki.lifecycle.status import estate_status
from ccapki.store.session import Store
from kit.certs import NOW
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write
from kit.pgmode import store_sql


def _apply(cli: Cli, tmp_path: Path) -> None:
    text_ = deployment(
        name="old-campus",
        release="4.7.2",
        source="self-signed",
        cam=ha_pair("cam", "10.0.0"),
        cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1", source="internal")],
    )
    ok(cli("apply", write(tmp_path / "d.toml", text_)))


def _days_left(metrics: WatchMetrics) -> dict[tuple[str, str, str], float]:
    """ccapki_certificate_days_left's series: (identity, appliance, kind) -> value."""
    out = {}
    for fam in metrics.registry.collect():
        for s in fam.samples:
            if s.name == "ccapki_certificate_days_left":
                out[(s.labels["identity"], s.labels["appliance"], s.labels["kind"])] = s.value
    return out


def test_metrics_report_a_self_signed_identity_once_as_status_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    _apply(cli, tmp_path)
    with Store.open(keyfile_store, clock=lambda: NOW) as store:
        report = estate_status(store, now=NOW)
    items = report.items
    own = {i.fingerprint: i.name for i in items if i.kind == "identity"}
    # status --json keeps each appliance's entry; its rows have the identity's alone
    assert any(i.kind == "trust-root" and i.fingerprint in own for i in items)
    assert not [r for r in report.rows() if r.kind == "trust-root" and r.fingerprint in own]
    metrics = WatchMetrics("9.9.9")
    members = {"cam": ("cam-a", "cam-b"), "cas1": ("cas1",), "cas2": ("cas2",)}
    metrics.update_status("old-campus", items, members, NOW)
    days = _days_left(metrics)
    cam = next(i for i in items if i.name == "cam")
    assert days[("cam", "cam-a", "identity")] == days[("cam", "cam-b", "identity")]
    assert days[("cam", "cam-a", "identity")] == cam.days_left
    assert ("cas1", "cas1", "identity") in days
    roots = {k: v for k, v in days.items() if k[2] == "trust-root"}
    # no trust-root series for cam's or cas1's own certificate on any appliance
    held = {
        (i.name.partition(": ")[2], i.name.partition(": ")[0])
        for i in items
        if i.kind == "trust-root" and i.fingerprint in own
    }
    assert held
    assert not held & {(k[0], k[1]) for k in roots}, (held, roots)
    # one series per appliance serving each identity, as many rows as status has
    series = {(k[0], k[2]) for k in days}
    rows = {(r.name, r.kind) for r in report.rows() if r.kind != "csr"}
    assert len(series) == len(rows), (series, rows)


def test_a_damaged_self_signed_identity_still_says_it_is_the_root_its_peers_trust(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    _apply(cli, tmp_path)
    healthy = ok(cli("status", "--json")).json()
    (cam,) = [i for i in healthy["items"] if i["name"] == "cam"]
    assert "also the root its peers and clients trust" in cam["note"]
    with store_sql(keyfile_store) as conn:
        conn.execute(text("UPDATE certificates SET pem = 'garbage' WHERE identity = 'cam'"))
    r = cli("status", "--json")
    assert r.code == 1, r.both
    (cam,) = [i for i in r.json()["items"] if i["name"] == "cam"]
    assert cam["stage"] == "damaged", cam
    assert "`ccapki doctor`" in cam["note"], cam
    assert "also the root its peers and clients trust" in cam["note"], cam
    assert "cam-a, cam-b, cas1, cas2" in cam["note"], cam
