"""Issue 12, item 3: ``ccapki probe``: what every endpoint serves, against the store.

Real TLS on 127.0.0.1 throughout: the lab of the FAQ deployment (a daemon, as `ccapki lab
up` starts it), and stand-in appliances (``kit.endpoints``) named as real endpoints in a
deployment file, serving what each test installs on them: the certificate ``ccapki export``
wrote, a hand-made one, a self-signed temporary one, nothing (refused), silence, plain HTTP.
The handshakes run on the machine's clock, so these tests do too (``wall_clock``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccapki.lab.daemon import read_state, stop_background
from ccapki.store import Store
from kit.certs import OutsideCA, key_pem, mint, pem
from kit.cli import FAQ, Cli, error_with_hint, ok
from kit.endpoints import CLOSED, HTTP, SILENT, EndpointHost, Tls
from kit.lab import CAM, CAS_HA, SOLO, deployment_toml

TEST_SECONDS = 90


#: a test that hangs fails after TEST_SECONDS instead (pytest-timeout)
pytestmark = pytest.mark.timeout(TEST_SECONDS)


@pytest.fixture(autouse=True)
def _bounded(wall_clock: None) -> None:
    """The machine's clock."""


def probe_json(cli: Cli, *args: str, code: int | None = None) -> dict[str, Any]:
    r = cli("probe", "--json", *args)
    assert r.code in (0, 1), r.both
    if code is not None:
        assert r.code == code, r.both
    doc: dict[str, Any] = r.json()
    assert doc["exit_code"] == r.code
    return doc


def by_endpoint(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["appliance"], e["kind"]): e for run in doc["runs"] for e in run["endpoints"]}


# ---------------------------------------------------------------------------- real endpoints

#: the endpoints each appliance of kit.lab's deployment gets (HA peers: one of each)
KINDS = {CAM[0]: ("gui",), CAM[1]: ("gui",), CAS_HA[0]: ("gui",), CAS_HA[1]: ("gui",)}
KINDS[SOLO] = ("control", "gui")
IDENTITY = {CAM[0]: "cam", CAM[1]: "cam", CAS_HA[0]: "cas-ha", CAS_HA[1]: "cas-ha", SOLO: SOLO}


@dataclass
class Estate:
    """A store with kit.lab's deployment applied, its endpoints on stand-ins serving each
    identity's certificate as ``ccapki export`` writes it."""

    host: EndpointHost
    home: Path
    address: dict[tuple[str, str], str] = field(default_factory=dict)
    served: dict[str, Tls] = field(default_factory=dict)

    def set(self, appliance: str, kind: str, mode: Tls | str) -> None:
        self.host.set(self.address[(appliance, kind)], mode)

    def store(self) -> Store:
        return Store.open(self.home)


@pytest.fixture
def estate(cli: Cli, home: Path, tmp_path: Path) -> Iterator[Estate]:
    with EndpointHost() as host:
        est = Estate(host, home)
        eps: dict[str, dict[str, str]] = {}
        for appliance, kinds in KINDS.items():
            for kind in kinds:
                est.address[(appliance, kind)] = host.add(SILENT)
                eps.setdefault(appliance, {})[kind] = est.address[(appliance, kind)]
        dep = tmp_path / "real.toml"
        dep.write_text(deployment_toml(endpoints=eps), encoding="utf-8")
        ok(cli("init", "--key-file"))
        ok(cli("apply", dep))
        for ident in sorted(set(IDENTITY.values())):
            out = tmp_path / f"{ident}.pem"
            ok(cli("export", ident, "--format", "pem-bundle", "--out", out))
            est.served[ident] = Tls.from_bundle(out.read_bytes())
        for (appliance, kind), _ in est.address.items():
            tls = est.served[IDENTITY[appliance]]
            if (appliance, kind) == (SOLO, "control"):  # mutual TLS, TLS 1.2 at most
                tls = Tls(tls.chain_pem, tls.key_pem, tls12_only=True, mutual=True)
            est.set(appliance, kind, tls)
        yield est


def test_every_real_endpoint_serving_its_current_certificate_is_expected(
    cli: Cli, estate: Estate
) -> None:
    doc = probe_json(cli, code=0)
    (run,) = doc["runs"]
    assert run["deployment"] == "labcli"
    assert run["counts"] == {"expected": 6}
    eps = by_endpoint(doc)
    assert set(eps) == set(estate.address)
    for (appliance, kind), e in eps.items():
        assert e["verdict"] == "expected", e
        assert (e["identity"], e["version"]) == (IDENTITY[appliance], 1)
        assert e["address"] == estate.address[(appliance, kind)]
        assert e["since"] == e["at"]  # first seen now
        assert e["latency_ms"] is not None
        assert e["chain"][0]["sha256"] == e["leaf_sha256"]
    # the mutual-TLS endpoint refuses a client without a certificate, after showing its own
    assert eps[(SOLO, "control")]["protocol"] == "TLSv1.2"
    assert eps[(SOLO, "gui")]["protocol"] == "TLSv1.3"

    text = ok(cli("probe"))
    assert "every endpoint of labcli presents its current certificate" in text.out
    for header in ("appliance", "kind", "address", "verdict", "since", "protocol", "reason"):
        assert header in text.out

    with estate.store() as store, store.scoped("labcli"):
        runs = store.runs.last("probe")
        assert runs is not None
        assert runs.ok is True
        assert runs.summary == "6 endpoints: 6 expected"
        assert len(store.probes.latest()) == 6


def test_drift_temporary_and_ha_mismatch(cli: Cli, estate: Estate, outside: OutsideCA) -> None:
    # by hand: a certificate from another CA on the standalone CAS's GUI
    key = mint("k").key
    subject = mint(f"{SOLO}.lab.test").cert.subject
    hand = outside.sign(subject, key.public_key(), dns=[f"{SOLO}.lab.test"])
    chain = pem(hand) + b"".join(pem(c) for c in outside.chain)
    estate.set(SOLO, "gui", Tls(chain, key_pem(key)))
    # the install-time temporary certificate (true self-signed, 4.7+) on its control port
    temp = mint(f"{SOLO}.lab.test", days=90, now=dt.datetime.now(dt.UTC))
    estate.set(SOLO, "control", Tls(pem(temp.cert), key_pem(temp.key)))
    # one HA peer (cas-ha-b) serving the CAM's certificate: the peers differ
    estate.set(CAS_HA[1], "gui", estate.served["cam"])

    doc = probe_json(cli, code=1)
    eps = by_endpoint(doc)
    hand_e = eps[(SOLO, "gui")]
    assert hand_e["verdict"] == "unknown"
    assert (
        "issued by Outside Trust Issuing CA is not a certificate the store holds"
        in (hand_e["reason"])
    )
    assert hand_e["identity"] is None
    temp_e = eps[(SOLO, "control")]
    assert temp_e["verdict"] == "temporary"
    assert "self-signed cas-solo.lab.test" in temp_e["reason"]
    peer = eps[(CAS_HA[1], "gui")]
    assert peer["verdict"] == "ha-mismatch"
    assert "presents cam's certificate (v1), not cas-ha's" in peer["reason"]
    assert f"its HA peer {CAS_HA[0]} presents the current cas-ha" in peer["reason"]
    assert eps[(CAS_HA[0], "gui")]["verdict"] == "expected"
    assert doc["runs"][0]["counts"] == {
        "expected": 3,
        "ha-mismatch": 1,
        "temporary": 1,
        "unknown": 1,
    }
    # the table says it too, and exits 1
    text = cli("probe", CAS_HA[1], SOLO)
    assert text.code == 1, text.both
    assert "3 of 3 endpoints of labcli need a look" in text.out


def test_refused_silent_and_plain_http_endpoints_are_reported_and_the_run_finishes(
    cli: Cli, estate: Estate
) -> None:
    estate.set(CAM[1], "gui", SILENT)
    estate.set(CAS_HA[0], "gui", HTTP)
    refused = estate.host.add(CLOSED)
    # point cam-a's gui at a port where nothing listens (the same file, one address changed)
    dep = estate.home.parent / "real.toml"
    text = dep.read_text(encoding="utf-8")
    dep.write_text(text.replace(estate.address[(CAM[0], "gui")], refused), encoding="utf-8")
    ok(cli("apply", dep))

    doc = probe_json(cli, "--timeout", "1", "--retries", "2", code=1)
    eps = by_endpoint(doc)
    gone = eps[(CAM[0], "gui")]
    assert gone["verdict"] == "unreachable"
    assert gone["reason"] == "connection refused (3 attempts)"
    assert (gone["attempts"], gone["leaf_sha256"], gone["since"]) == (3, None, None)
    silent = eps[(CAM[1], "gui")]
    assert silent["verdict"] == "unreachable"
    assert silent["reason"] == "connected, but no answer to the TLS hello in 1 s"
    assert silent["attempts"] == 1  # its time was up: not tried again
    http = eps[(CAS_HA[0], "gui")]
    assert http["verdict"] == "not-tls"
    assert "'HTTP/1.1 400 Bad Request'" in http["reason"]
    # the others were probed all the same
    assert eps[(SOLO, "gui")]["verdict"] == "expected"
    assert eps[(CAS_HA[1], "gui")]["verdict"] == "expected"


def test_since_is_kept_while_the_certificate_stays_and_restarts_when_it_changes(
    cli: Cli, estate: Estate
) -> None:
    first = by_endpoint(probe_json(cli, SOLO, code=0))
    second = by_endpoint(probe_json(cli, SOLO, code=0))
    for key in first:
        assert second[key]["at"] > first[key]["at"]
        assert second[key]["since"] == first[key]["since"] == first[key]["at"]
    estate.set(SOLO, "gui", estate.served["cam"])
    third = by_endpoint(probe_json(cli, SOLO, code=1))
    assert third[(SOLO, "gui")]["since"] == third[(SOLO, "gui")]["at"]
    assert third[(SOLO, "control")]["since"] == first[(SOLO, "control")]["since"]
    with estate.store() as store, store.scoped("labcli"):
        history = store.probes.history(SOLO, "gui")
        assert [p.verdict.value for p in history] == ["unknown", "expected", "expected"]


def test_targets_narrow_the_probe_and_unknown_ones_are_refused(cli: Cli, estate: Estate) -> None:
    doc = probe_json(cli, "cas-ha", f"{SOLO}:control", code=0)
    assert set(by_endpoint(doc)) == {(CAS_HA[0], "gui"), (CAS_HA[1], "gui"), (SOLO, "control")}
    r = error_with_hint(cli("probe", "nosuch"))
    assert "no appliance or identity named 'nosuch'" in r.err
    assert f"{CAM[0]}, {CAM[1]}" in r.err
    assert "an HA pair (cam, cas-ha)" in r.err
    r = error_with_hint(cli("probe", f"{SOLO}:heartbeat"))
    assert f"{SOLO} has no heartbeat endpoint" in r.err
    assert "its endpoints: control, gui" in r.err
    error_with_hint(cli("probe", "--concurrency", "0"))
    error_with_hint(cli("probe", "--timeout", "0"))


def test_the_what_if_clock_is_refused(cli: Cli, estate: Estate) -> None:
    r = error_with_hint(cli("probe", env={"CCAPKI_NOW": "2027-06-01T00:00:00+00:00"}))
    assert "real clock" in r.err
    with estate.store() as store, store.scoped("labcli"):
        assert store.probes.latest() == []


def test_no_lab_and_no_endpoints_is_bad_input_as_for_verify(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    probe = error_with_hint(cli("probe"))
    verify = error_with_hint(cli("verify", "--live"))
    assert probe.err == verify.err
    assert "no lab runs for" in probe.err
    r = error_with_hint(cli("probe", "--target", "deployment"))
    assert "the deployment file gives none" in r.err


# ---------------------------------------------------------------------------- the lab


@pytest.fixture
def faq_lab(cli: Cli, home: Path) -> Iterator[Path]:
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    try:
        ok(cli("lab", "up", "--interval", "5"))
        yield home
    finally:
        try:
            cli("lab", "down")
        finally:
            stop_background(home / "lab", timeout=5.0)
            state = read_state(home / "lab")
            assert state is None or not state.alive, f"a lab daemon outlived the test: {state}"


def test_the_faq_lab_is_expected_then_stale_after_apply_then_expected_after_reload(
    cli: Cli, faq_lab: Path, tmp_path: Path
) -> None:
    status = ok(cli("lab", "status", "--json")).json()
    lab_eps = {(e["appliance"], e["kind"]) for e in status["endpoints"]}
    doc = probe_json(cli, code=0)
    eps = by_endpoint(doc)
    assert set(eps) == lab_eps
    assert {e["verdict"] for e in eps.values()} == {"expected"}
    first_since = eps[("cas-clinic", "gui")]["since"]

    # apply reissues cas-clinic (a shorter validity); the lab still serves v1
    changed = tmp_path / "faq.toml"
    changed.write_text(
        FAQ.read_text(encoding="utf-8").replace(
            'ip = "10.30.0.10"\n', 'ip = "10.30.0.10"\nvalidity_days = 200\n'
        ),
        encoding="utf-8",
    )
    assert "reissued cas-clinic v2" in ok(cli("apply", changed)).out
    eps = by_endpoint(probe_json(cli, code=1))
    stale = {k for k, e in eps.items() if e["verdict"] == "stale"}
    assert stale == {k for k in lab_eps if k[0] == "cas-clinic"}
    assert {e["verdict"] for k, e in eps.items() if k not in stale} == {"expected"}
    clinic = eps[("cas-clinic", "gui")]
    assert (clinic["version"], clinic["since"]) == (1, first_since)
    assert "superseded by v2" in clinic["reason"]

    ok(cli("lab", "reload"))
    eps = by_endpoint(probe_json(cli, "cas-clinic", code=0))
    assert {e["version"] for e in eps.values()} == {2}
    assert eps[("cas-clinic", "gui")]["since"] > first_since


def test_the_python_api_probes_like_the_command(estate: Estate, tmp_path: Path) -> None:
    import ccapki

    dep = ccapki.load_deployment(tmp_path / "real.toml")
    estate.set(SOLO, "gui", SILENT)
    with ccapki.open_store(estate.home) as store:
        run = ccapki.probe_endpoints(store, dep, timeout=1, retries=0)
        assert {(r.appliance, r.kind): r.verdict.value for r in run.records}[(SOLO, "gui")] == (
            "unreachable"
        )
        assert sum(r.verdict.value == "expected" for r in run.records) == 5
        assert run.exit_code == 1
        assert len(store.probes.latest()) == 6
    with pytest.raises(ccapki.InputError), ccapki.open_store(estate.home) as store:
        ccapki.probe_endpoints(store, dep, target="lab")  # no lab runs for this home
