"""``observe_many``: what endpoints present to an unverified handshake, however it ends.

Real servers on 127.0.0.1 (``kit.endpoints``), certificates minted at test time. No timed
assertions: the order results come in, attempts and error kinds only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ccapki.probe import ProbeResult, ProbeTarget, observe_many
from kit.certs import Leaf, issue, make_ca, sha256
from kit.endpoints import CLOSED, HTTP, SILENT, EndpointHost, Tls
from kit.lab import run


@pytest.fixture(scope="module")
def leaf() -> Leaf:
    return issue(make_ca("Probe"), "srv.example.edu")


@pytest.fixture
def host() -> Iterator[EndpointHost]:
    with EndpointHost() as h:
        yield h


def target(address: str, **kw: object) -> ProbeTarget:
    host, port = address.rsplit(":", 1)
    return ProbeTarget(host, int(port), server_name="srv.example.edu", **kw)  # type: ignore[arg-type]


def test_each_way_an_endpoint_can_answer(host: EndpointHost, leaf: Leaf) -> None:
    tls = Tls(leaf.chain_pem, leaf.key_pem)
    addrs = [
        host.add(tls),
        host.add(Tls(leaf.chain_pem, leaf.key_pem, tls12_only=True, mutual=True)),
        host.add(Tls(leaf.chain_pem, leaf.key_pem, mutual=True)),
        host.add(HTTP),
        host.add(SILENT),
        host.add(CLOSED),
    ]
    results = run(observe_many([target(a, timeout=1.0, retries=2) for a in addrs]))
    plain, mutual12, mutual13, http, silent, closed = results
    want = sha256(leaf.cert)
    assert plain.ok
    assert plain.tls_version == "TLSv1.3"
    assert plain.peer_fingerprint == want
    assert len(plain.peer_chain_der) == 1 + len(leaf.chain)
    # TLS 1.2 mutual: the server refuses the client without a certificate after its own
    # Certificate message: the handshake fails, the chain was seen
    assert not mutual12.ok
    assert mutual12.peer_fingerprint == want
    assert mutual12.tls_version == "TLSv1.2"
    assert mutual12.attempts == 1  # a chain was seen: nothing to try again
    # TLS 1.3 mutual: the client's side of the handshake completes first
    assert mutual13.peer_fingerprint == want
    assert (http.ok, http.error_kind) == (False, "not-tls")
    assert "'HTTP/1.1 400 Bad Request'" in (http.error or "")
    assert (silent.error_kind, silent.attempts) == ("timeout", 1)
    assert silent.error == "connected, but no answer to the TLS hello in 1 s"
    assert (closed.error_kind, closed.attempts) == ("refused", 3)
    assert closed.peer_chain_der == ()


def test_a_silent_endpoint_steps_aside_and_does_not_hold_up_the_others(
    host: EndpointHost, leaf: Leaf
) -> None:
    # one slot, three silent endpoints first: each steps aside after PARK_AFTER (1 s, or
    # half its timeout) and the healthy one behind them is done before the first times out
    silent = [host.add(SILENT) for _ in range(3)]
    healthy = host.add(Tls(leaf.chain_pem, leaf.key_pem))
    order: list[str] = []

    def seen(r: ProbeResult) -> None:
        order.append(r.target.address)

    targets = [target(a, timeout=4.0) for a in [*silent, healthy]]
    results = run(observe_many(targets, concurrency=1, on_result=seen))
    assert order[0] == healthy
    assert [r.error_kind for r in results] == ["timeout", "timeout", "timeout", None]


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(observe_many([], concurrency=0))
    with pytest.raises(ValueError, match="retries"):
        ProbeTarget("127.0.0.1", 443, retries=-1)


def test_a_client_certificate_is_presented_when_given(host: EndpointHost) -> None:
    ca = make_ca("Mutual")
    server, client = issue(ca, "srv.example.edu"), issue(ca, "cam.example.edu")
    addr = host.add(
        Tls(server.chain_pem, server.key_pem, tls12_only=True, mutual=True, trust_pem=ca.root_pem)
    )
    without, with_cert = run(
        observe_many(
            [
                target(addr),
                target(addr, client_cert_pem=client.chain_pem, client_key_pem=client.key_pem),
            ]
        )
    )
    assert not without.ok  # TLS 1.2: refused for want of a client certificate
    assert with_cert.ok
    assert without.peer_fingerprint == with_cert.peer_fingerprint == sha256(server.cert)
