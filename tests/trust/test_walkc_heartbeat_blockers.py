"""Walkthrough C: ``heartbeat_blockers`` words why an HA pair's IPsec heartbeat stays down,
as strongSwan decides IKE_AUTH (``check-ha`` used to call every failed row "HA broken").

A second certificate with the pair's subject DN from the issuer both peers trust is not a
blocker (strongSwan authenticates it: ``tests/cli/test_walkc_check_ha_heartbeat.py`` runs
the daemons); another DN, an untrusted issuer, an empty trust store, a missing key or a
second self-signed certificate are.
"""

from __future__ import annotations

from ccapki.pki.keys import public_key_fingerprint
from ccapki.trust import HaPair, HaPeer, check_ha, heartbeat_blockers
from kit.certs import Minted, MintedChain

from .conftest import NOW, mint

NAMES = ("cas1.example.com", "10.0.0.11")


def _peer(m: Minted, key: Minted | None = None) -> HaPeer:
    return HaPeer(m.cert, public_key_fingerprint((key or m).key.public_key()))


def _blockers(pki: MintedChain, a: Minted, b: Minted, *, b_key: Minted | None = None,
              a_trust: tuple[Minted, ...] | None = None) -> tuple[str, ...]:  # fmt: skip
    rows = check_ha(HaPair("cas1", NAMES, _peer(a), _peer(b, b_key)), NOW)
    roots = [pki.root.cert]
    return heartbeat_blockers(
        rows,
        [a.cert, pki.inter.cert],
        [b.cert, pki.inter.cert],
        roots if a_trust is None else [m.cert for m in a_trust],
        roots,
        NOW,
    )


def test_one_certificate_trusted_by_both_peers_has_no_blocker(pki: MintedChain) -> None:
    assert _blockers(pki, pki.leaf, pki.leaf) == ()


def test_a_renewed_certificate_with_the_same_dn_from_the_same_ca_is_no_blocker(
    pki: MintedChain,
) -> None:
    renewed = mint("cas1.example.com", issuer=pki.inter, san=list(NAMES))
    rows = check_ha(HaPair("cas1", NAMES, _peer(renewed), _peer(pki.leaf)), NOW)
    assert not all(r.ok for r in rows)  # not fit: two certificates, two keys
    assert _blockers(pki, renewed, pki.leaf) == ()


def test_another_dn_blocks_and_names_both_subjects(pki: MintedChain) -> None:
    other = mint("cas2.example.com", issuer=pki.inter, san=["cas2.example.com"])
    (why,) = _blockers(pki, pki.leaf, other)
    assert "different subjects" in why
    assert "CN=cas1.example.com" in why
    assert "CN=cas2.example.com" in why


def test_an_untrusted_issuer_or_empty_store_blocks_on_the_peer_that_refuses(
    pki: MintedChain,
) -> None:
    stranger = mint("Stranger Root", ca=True, days=3650)
    (why,) = _blockers(pki, pki.leaf, pki.leaf, a_trust=(stranger,))
    assert why.startswith("the primary does not trust the secondary's certificate")
    assert "`ccapki trust plan`" in why
    (why,) = _blockers(pki, pki.leaf, pki.leaf, a_trust=())
    assert why.startswith("the primary's trust store is empty")


def test_a_key_that_is_not_the_certificates_blocks_as_its_row(pki: MintedChain) -> None:
    stranger = mint("x.example.com")
    (why,) = _blockers(pki, pki.leaf, pki.leaf, b_key=stranger)
    assert why.startswith("secondary key matches its certificate: ")


def test_two_different_self_signed_certificates_block(pki: MintedChain) -> None:
    """As the lab's charon is configured (a self-signed peer trusted as exactly the pair's
    certificate), a renewed true self-signed certificate on one peer only is refused."""
    v1 = mint("cas1.example.com", san=list(NAMES))
    v2 = mint("cas1.example.com", san=list(NAMES))
    rows = check_ha(HaPair("cas1", NAMES, _peer(v2), _peer(v1)), NOW)
    (why,) = heartbeat_blockers(rows, [v2.cert], [v1.cert], [v1.cert, v2.cert],
                                [v1.cert, v2.cert], NOW)  # fmt: skip
    assert why.startswith("the peers present two different certificates (self-signed on the ")
    assert heartbeat_blockers(rows, [v1.cert], [v1.cert], [v1.cert], [v1.cert], NOW) == ()
