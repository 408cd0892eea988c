"""The asyncio prober against the lab's real TLS endpoints and against dead ports."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.lab import WEB_LOGIN_TITLE, Lab, LabSpec, LabStatus
from ccapki.probe import ProbeResult, ProbeTarget, probe, probe_many
from kit.certs import NOW, issue, make_ca
from kit.lab import Deployment, run, with_appliance

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


async def _with_lab(spec: LabSpec, targets_for) -> tuple[LabStatus, list[ProbeResult]]:  # type: ignore[no-untyped-def]
    async with Lab(spec) as lab:
        st = lab.status()
        return st, await probe_many(targets_for(st))


@pytest.fixture
def listening_but_silent() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) but never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_probe_web_login_reads_page_and_presented_chain(deployment: Deployment) -> None:
    def targets(st: LabStatus) -> list[ProbeTarget]:
        e = st.endpoint("cas2", "web-login")
        return [
            ProbeTarget(
                e.host,
                e.port,
                "cas2.example.edu",
                deployment.trust,
                purpose="web-login",
                http_get=True,
            )
        ]

    _, (res,) = run(_with_lab(deployment.spec(), targets))
    assert res.ok, res.error
    assert res.http_status == 200
    assert res.http_title == WEB_LOGIN_TITLE
    assert b'<form id="login"' in res.http_body
    der = serialization.Encoding.DER
    assert res.peer_chain_der == (
        deployment.cas2.cert.public_bytes(der),
        deployment.ca.chain[0].public_bytes(der),
    )
    # verified chain ends at the trusted root
    assert res.verified_chain_der[-1] == deployment.ca.root.public_bytes(der)
    assert res.tls_version in ("TLSv1.2", "TLSv1.3")
    assert res.handshake_seconds is not None
    assert 0 < res.handshake_seconds < 5
    assert res.to_dict()["target"]["purpose"] == "web-login"


def test_probe_failures_are_results_with_verify_codes(deployment: Deployment) -> None:
    other = make_ca("Unrelated")
    expired = issue(deployment.ca, "cas2.example.edu", now=NOW - dt.timedelta(days=400), days=90)
    spec = with_appliance(deployment.spec(), "cas2", identity=expired.material(deployment.trust))

    def targets(st: LabStatus) -> list[ProbeTarget]:
        a = st.endpoint("cas1a", "agent")
        g = st.endpoint("cas2", "gui")
        return [
            ProbeTarget(a.host, a.port, "cas1a.example.edu", other.root_pem),  # untrusted
            ProbeTarget(a.host, a.port, "wrong.example.edu", deployment.trust),  # name
            ProbeTarget(g.host, g.port, "cas2.example.edu", deployment.trust),  # expired
            ProbeTarget(a.host, a.port, None, deployment.trust),  # no name check: ok
        ]

    _, results = run(_with_lab(spec, targets))
    untrusted, wrong_name, exp, no_name = results
    assert (untrusted.ok, untrusted.error_kind, untrusted.verify_code) == (False, "verify", 20)
    assert untrusted.verify_message == "unable to get local issuer certificate"
    # the presented chain still comes back (second, unverified handshake)
    assert len(untrusted.peer_chain_der) == 2
    assert untrusted.peer_certificates()[0].subject == deployment.pair.cert.subject
    assert (wrong_name.ok, wrong_name.verify_code) == (False, 62)  # hostname mismatch
    assert "wrong.example.edu" in (wrong_name.error or "")
    assert (exp.ok, exp.verify_code) == (False, 10)
    assert exp.peer_fingerprint is not None
    assert no_name.ok


def test_probe_mutual_tls_control_endpoint(deployment: Deployment) -> None:
    stranger = issue(make_ca("Unrelated"), "intruder.example.edu")

    def targets(st: LabStatus) -> list[ProbeTarget]:
        c = st.endpoint("cam", "control")
        base = ProbeTarget(c.host, c.port, "cam.example.edu", deployment.trust, purpose="control")
        return [
            base,  # no client certificate
            ProbeTarget(
                c.host,
                c.port,
                "cam.example.edu",
                deployment.trust,
                client_cert_pem=deployment.cas2.chain_pem,
                client_key_pem=deployment.cas2.key_pem,
                purpose="control",
            ),
            ProbeTarget(
                c.host,
                c.port,
                "cam.example.edu",
                deployment.trust,
                client_cert_pem=stranger.chain_pem,
                client_key_pem=stranger.key_pem,
                purpose="control",
            ),
        ]

    _, (anonymous, trusted, untrusted) = run(_with_lab(deployment.spec(), targets))
    assert not anonymous.ok
    assert anonymous.error_kind in ("rejected", "closed", "reset")
    assert trusted.ok, trusted.error
    assert not untrusted.ok


def test_unreachable_endpoints_never_raise(closed_port: int, listening_but_silent: int) -> None:
    results = run(
        probe_many(
            [
                ProbeTarget("127.0.0.1", closed_port, "x.example.edu", b"", timeout=1.0),
                ProbeTarget("127.0.0.1", listening_but_silent, "x.example.edu", b"", timeout=0.3),
                ProbeTarget("no-such-host.invalid", 443, "x.example.edu", b"", timeout=2.0),
            ]
        )
    )
    refused, silent, nodns = results
    assert (refused.ok, refused.error, refused.error_kind) == (
        False,
        "connection refused",
        "refused",
    )
    assert (silent.ok, silent.error, silent.error_kind) == (False, "timeout", "timeout")
    assert not nodns.ok
    assert nodns.error_kind in ("dns", "error")


def test_probe_many_keeps_order_and_bounds_concurrency(deployment: Deployment) -> None:
    def targets(st: LabStatus) -> list[ProbeTarget]:
        eps = [e for e in st.endpoints if e.url]
        return [
            ProbeTarget(
                e.host,
                e.port,
                deployment.spec().appliance(e.appliance).peer_name,
                deployment.trust,
                label=f"{e.appliance}/{e.kind}",
                http_get=True,
            )
            for e in eps * 10
        ]

    async def go() -> list[ProbeResult]:
        async with Lab(deployment.spec()) as lab:
            return await probe_many(targets(lab.status()), concurrency=4)

    results = run(go())
    assert len(results) == 10 * 10
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    st_targets = [r.target.label for r in results]
    assert st_targets[:10] == [r.target.label for r in results[10:20]]


def test_single_probe_and_bad_input(closed_port: int) -> None:
    with pytest.raises(ValueError, match="needs its key"):
        ProbeTarget("127.0.0.1", 443, client_cert_pem=b"x")
    with pytest.raises(ValueError, match="out of range"):
        ProbeTarget("127.0.0.1", 0)
    res = run(probe(ProbeTarget("127.0.0.1", closed_port, trust_pem=b"garbage", timeout=1)))
    assert not res.ok
    assert res.error_kind == "input"
