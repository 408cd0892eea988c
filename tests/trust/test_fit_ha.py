"""Fit to a plan identity (import) and HA pair rules (check-ha): findings with codes.

Callers choose findings by ``code`` and ``severity``; these tests prove each rule fires on
the certificate minted to break it, and only there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from ccapki.pki.keys import public_key_fingerprint
from ccapki.trust import (
    HA_RULES,
    Code,
    Finding,
    FitPolicy,
    HaPair,
    HaPeer,
    check_ha,
    incomplete_chain,
    usage_findings,
)
from kit.certs import CLIENT_AUTH, SERVER_AUTH, Minted, MintedChain

from .conftest import NOW, mint

NAMES = ("cas1.example.com", "10.0.0.11")


def codes(findings: Sequence[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in findings]


def test_a_fit_certificate_has_no_findings(pki: MintedChain) -> None:
    assert FitPolicy("cas1", NAMES).evaluate(pki.leaf.cert, NOW) == []


def test_each_fit_rule_fires_with_its_code_and_severity() -> None:
    policy = FitPolicy("cas1", NAMES)
    no_ip = mint("cas1.example.com", san=["cas1.example.com"])
    [f] = policy.evaluate(no_ip.cert, NOW)
    assert (f.code, f.severity) == (Code.MISSING_SAN, "error")
    assert f.reason == "names missing from the SANs: 10.0.0.11"
    assert "`ccapki csr cas1`" in f.fix
    old = mint("cas1.example.com", san=list(NAMES), start=NOW - dt.timedelta(days=400))
    assert codes(policy.evaluate(old.cert, NOW)) == [(Code.EXPIRED, "error")]
    future = mint("cas1.example.com", san=list(NAMES), start=NOW + dt.timedelta(days=2))
    assert codes(policy.evaluate(future.cert, NOW)) == [(Code.NOT_YET_VALID, "error")]
    ca_leaf = mint("cas1.example.com", san=list(NAMES), key_cert_sign=True)
    assert codes(policy.evaluate(ca_leaf.cert, NOW)) == [(Code.WRONG_KEY_USAGE, "error")]
    client_only = mint("cas1.example.com", san=list(NAMES), eku=[CLIENT_AUTH])
    assert codes(policy.evaluate(client_only.cert, NOW)) == [(Code.WRONG_EKU, "error")]
    server_only = mint("cas1.example.com", san=list(NAMES), eku=[SERVER_AUTH])
    assert codes(policy.evaluate(server_only.cert, NOW)) == [(Code.WRONG_EKU, "warning")]
    assert codes(usage_findings(server_only.cert, NOW)) == [(Code.WRONG_EKU, "warning")]


def test_every_fit_rule_cites_its_source() -> None:
    for rule in FitPolicy("cas1", NAMES).rules:
        assert rule.source
        assert rule.code
    for ha_rule in HA_RULES:
        assert ha_rule.source
        assert ha_rule.code
        assert ha_rule.item


def test_incomplete_chain_names_the_missing_issuer(pki: MintedChain) -> None:
    f = incomplete_chain(pki.leaf.cert, pki.inter.cert.subject)
    assert f.code == Code.MISSING_ISSUER
    assert "CN=Campus Issuing CA" in f.reason


def _peer(m: Minted, key: Minted | None = None) -> HaPeer:
    holder = key or m
    return HaPeer(m.cert, public_key_fingerprint(holder.key.public_key()))


def _rows(pair: HaPair) -> dict[str, tuple[bool, tuple[str, ...], list[str]]]:
    return {c.item: (c.ok, c.peers, [f.code for f in c.findings]) for c in check_ha(pair, NOW)}


def test_one_fit_certificate_on_both_peers_passes_every_rule(pki: MintedChain) -> None:
    pair = HaPair("cas1", NAMES, _peer(pki.leaf), _peer(pki.leaf))
    rows = check_ha(pair, NOW)
    assert [c.item for c in rows] == [r.item for r in HA_RULES]
    assert all(c.ok and not c.findings for c in rows)
    assert rows[0].as_dict() == {
        "item": "same certificate on both peers",
        "ok": True,
        "detail": "identical",
        "peers": [],
    }


def test_another_certificate_and_key_on_the_secondary(pki: MintedChain) -> None:
    other = mint("cas1.example.com", issuer=pki.inter, san=["cas1.example.com"])
    pair = HaPair("cas1", NAMES, _peer(pki.leaf), _peer(other))
    rows = _rows(pair)
    assert rows["same certificate on both peers"] == (
        False,
        ("secondary",),
        [Code.HA_CERTIFICATE_DIFFERS],
    )
    assert rows["same private key on both peers"] == (False, ("secondary",), [Code.HA_KEY_DIFFERS])
    assert rows["names the Service IP, virtual hostname and both peers"] == (
        False,
        ("secondary",),
        [Code.MISSING_SAN],
    )
    assert rows["secondary key matches its certificate"][0] is True


def test_a_wrong_or_missing_key_fails_its_peer(pki: MintedChain) -> None:
    stranger = mint("stranger")
    wrong = HaPair("cas1", NAMES, _peer(pki.leaf, key=stranger), _peer(pki.leaf))
    assert _rows(wrong)["primary key matches its certificate"] == (
        False,
        ("primary",),
        [Code.KEY_MISMATCH],
    )
    keyless = HaPair(
        "cas1", NAMES, _peer(pki.leaf), dataclasses.replace(_peer(pki.leaf), key_spki=None)
    )
    rows = check_ha(keyless, NOW)
    by_item = {c.item: c for c in rows}
    row = by_item["secondary key matches its certificate"]
    assert (row.ok, row.detail, [f.code for f in row.findings]) == (
        False,
        "no private key",
        [Code.MISSING_KEY],
    )
    # with a key missing, whether both peers hold the same one cannot be told (walk1 item 19)
    same_key = by_item["same private key on both peers"]
    assert (same_key.ok, same_key.detail, same_key.peers) == (
        False,
        "unknown (no key on the secondary)",
        ("secondary",),
    )


def test_per_peer_rules_name_each_failing_peer(pki: MintedChain) -> None:
    expired = mint(
        "cas1.example.com",
        issuer=pki.inter,
        san=list(NAMES),
        eku=[SERVER_AUTH],
        start=NOW - dt.timedelta(days=400),
    )
    pair = HaPair("cas1", NAMES, _peer(pki.leaf), _peer(expired))
    rows = {c.item: c for c in check_ha(pair, NOW)}
    valid = rows["valid now (the IPsec heartbeat fails on an expired certificate)"]
    assert (valid.ok, valid.peers) == (False, ("secondary",))
    assert valid.detail.startswith("secondary: ")
    assert valid.detail.endswith(", expired")
    usage = rows["key usage fit for the heartbeat (digitalSignature, serverAuth + clientAuth)"]
    assert (usage.ok, usage.peers) == (False, ("secondary",))
    assert [(f.code, f.subject) for f in usage.findings] == [(Code.WRONG_EKU, "secondary")]
    assert usage.detail.startswith("secondary: EKU lacks clientAuth")
