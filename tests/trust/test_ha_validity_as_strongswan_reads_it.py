"""The HA validity row asks the strongSwan stack model, as ``trust check`` does for the
ha-heartbeat cells: an expired certificate each peer trusts directly (a true self-signed
one) does not break the heartbeat (charon does not read its dates), one a CA signed does,
and so does one whose peers' trust stores are not known (audit, item 1)."""

from __future__ import annotations

import datetime as dt

from ccapki.pki.keys import public_key_fingerprint
from ccapki.trust import Code, HaPair, HaPeer, Stack, check_ha, heartbeat_blockers, verify_for_stack
from kit.certs import Minted, MintedChain

from .conftest import NOW, mint

NAMES = ("cas1.example.com", "10.0.0.11")
VALID = "valid now (the IPsec heartbeat fails on an expired certificate)"
AGO = NOW - dt.timedelta(days=400)


def _peer(m: Minted, trust: tuple[Minted, ...] | None) -> HaPeer:
    spki = public_key_fingerprint(m.key.public_key())
    return HaPeer(m.cert, spki, None if trust is None else tuple(t.cert for t in trust))


def _row(pair: HaPair) -> tuple[str, bool, str, bool]:
    (row,) = [c for c in check_ha(pair, NOW) if c.item.startswith("valid now")]
    return row.item, row.ok, row.detail, row.breaks_heartbeat


def test_an_expired_certificate_each_peer_trusts_directly_does_not_break_it() -> None:
    own = mint("cas1.example.com", san=list(NAMES), start=AGO)
    # the same verdict trust check gives the ha-heartbeat cell: strongSwan accepts it
    assert verify_for_stack(Stack.STRONGSWAN, own.cert, [], [own.cert], at=NOW).ok
    pair = HaPair("cas1", NAMES, _peer(own, (own,)), _peer(own, (own,)))
    item, ok, detail, breaks = _row(pair)
    assert (item, ok, breaks) == ("valid now", False, False)
    assert detail.endswith(
        ", expired: the IPsec heartbeat still comes up (strongSwan does not read the dates "
        "of a certificate it trusts directly, and each peer trusts this one directly), but "
        "clients refuse it (agents, web login, admin GUI)"
    )
    rows = check_ha(pair, NOW)
    assert [c.item for c in rows if not c.ok] == ["valid now"]
    assert [f.code for c in rows for f in c.findings] == [Code.EXPIRED, Code.EXPIRED]
    assert heartbeat_blockers(rows, [own.cert], [own.cert], [own.cert], [own.cert], NOW) == ()


def test_unknown_trust_stores_or_one_that_lacks_it_keep_the_heartbeat_down() -> None:
    own = mint("cas1.example.com", san=list(NAMES), start=AGO)
    other = mint("Other Root", ca=True)
    unknown = HaPair("cas1", NAMES, _peer(own, None), _peer(own, None))
    assert _row(unknown)[0::3] == (VALID, True)
    # the primary does not trust it: its dates are read when it verifies the secondary
    half = HaPair("cas1", NAMES, _peer(own, (other,)), _peer(own, (own,)))
    item, ok, detail, breaks = _row(half)
    assert (item, ok, breaks) == (VALID, False, True)
    assert "still comes up" not in detail
    rows = check_ha(half, NOW)
    (why,) = heartbeat_blockers(rows, [own.cert], [own.cert], [other.cert], [own.cert], NOW)
    assert why.startswith(f"{VALID}: ")


def test_a_ca_signed_expired_certificate_breaks_it(pki: MintedChain) -> None:
    old = mint("cas1.example.com", issuer=pki.inter, san=list(NAMES), start=AGO)
    assert not verify_for_stack(
        Stack.STRONGSWAN, old.cert, [pki.inter.cert], [pki.root.cert], at=NOW
    ).ok
    roots = (pki.root,)
    pair = HaPair("cas1", NAMES, _peer(old, roots), _peer(old, roots))
    item, ok, detail, breaks = _row(pair)
    assert (item, ok, breaks) == (VALID, False, True)
    assert detail.endswith(", expired")


def test_two_certificates_say_which_peer_still_authenticates_which(pki: MintedChain) -> None:
    """The primary's expired self-signed certificate is trusted directly by the secondary;
    the secondary's CA-signed one expired too: the row breaks the heartbeat, and says of
    the primary's certificate only that the secondary still authenticates it."""
    own = mint("cas1.example.com", san=list(NAMES), start=AGO)
    old = mint("cas1.example.com", issuer=pki.inter, san=list(NAMES), start=AGO)
    pair = HaPair("cas1", NAMES, _peer(own, (pki.root,)), _peer(old, (own, pki.root)))
    item, ok, detail, breaks = _row(pair)
    assert (item, ok, breaks) == (VALID, False, True)
    primary, secondary = detail.split("; secondary: ")
    assert primary.startswith("primary: ")
    assert "expired: the secondary still authenticates it (strongSwan does not read" in primary
    assert secondary.endswith(", expired")
