"""sort_chain, group_chains and KeyIndex on chains minted at test time."""

from __future__ import annotations

import random
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ccapki.errors import InputError
from ccapki.pki.certs import is_self_signed, issued_by
from ccapki.pki.chain import KeyIndex, group_chains, sort_chain
from ccapki.pki.issue import IdentityRequest, Issuer, issue_identity, make_root_ca
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from kit.certs import NOW, Pki, make_pki


def test_sorts_any_order(pki: Pki) -> None:
    certs = [pki.root, pki.leaf, pki.inter]
    for seed in range(6):
        random.Random(seed).shuffle(certs)
        chain = sort_chain([*certs, pki.inter])  # duplicates dropped
        assert chain.leaf == pki.leaf
        assert chain.intermediates == (pki.inter,)
        assert chain.root == pki.root
        assert chain.missing_issuer is None
        assert chain.complete
        assert chain.extras == ()
        assert chain.certificates == (pki.leaf, pki.inter, pki.root)


def test_missing_intermediate_is_named(pki: Pki) -> None:
    chain = sort_chain([pki.root, pki.leaf])
    assert chain.leaf == pki.leaf
    assert chain.intermediates == ()
    assert chain.root is None
    assert chain.missing_issuer == pki.inter.subject
    assert chain.extras == (pki.root,)
    assert not chain.complete


def test_no_root_names_the_roots_subject(pki: Pki) -> None:
    chain = sort_chain([pki.inter, pki.leaf])
    assert chain.intermediates == (pki.inter,)
    assert chain.missing_issuer == pki.root.subject


def test_unrelated_certificates_are_extras(pki: Pki) -> None:
    other = make_pki(name="other.example.org", root_name="Other Root")
    chain = sort_chain([other.root, pki.leaf, pki.inter, pki.root])
    assert chain.leaf == pki.leaf
    assert chain.extras == (other.root,)


def test_lookalike_issuer_with_same_name_is_not_linked(pki: Pki) -> None:
    # Same subject as the real intermediate, different key: names match, signature does not.
    fake_key = generate_key(KeyType.ECDSA_P256)
    fake = (
        x509.CertificateBuilder()
        .subject_name(pki.inter.subject)
        .issuer_name(pki.inter.subject)
        .public_key(fake_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW.replace(year=2027))
        .sign(fake_key, hashes.SHA256())
    )
    assert not issued_by(pki.leaf, fake)
    chain = sort_chain([fake, pki.leaf])
    assert chain.intermediates == ()
    assert chain.missing_issuer == pki.inter.subject
    assert chain.extras == (fake,)


def test_true_self_signed_identity() -> None:
    key = generate_key(KeyType.ECDSA_P256)
    cert = issue_identity(
        IdentityRequest("cam.example.org"), key.public_key(), now=NOW, days=90, self_key=key
    )
    chain = sort_chain([cert])
    assert chain.leaf == cert
    assert chain.leaf_is_self_signed
    assert chain.root is None
    assert chain.missing_issuer is None
    assert chain.complete
    assert is_self_signed(cert)


def test_roots_only_bundle(pki: Pki) -> None:
    chain = sort_chain([pki.root])
    assert chain.leaf == pki.root
    assert chain.root is None
    assert chain.complete


def test_prefers_end_entity_leaf_and_complete_chain(pki: Pki) -> None:
    other_leaf_key = generate_key(KeyType.ECDSA_P256)
    other_leaf = issue_identity(
        IdentityRequest("cas2.example.org"),
        other_leaf_key.public_key(),
        now=NOW,
        days=30,
        issuer=Issuer(pki.root, pki.root_key),
    )
    chain = sort_chain([pki.inter, pki.root, other_leaf, pki.leaf])
    assert chain.leaf == other_leaf  # first end-entity leaf with a complete chain
    assert chain.root == pki.root
    assert chain.intermediates == ()
    assert set(chain.extras) == {pki.inter, pki.leaf}


def test_empty_input_refused() -> None:
    with pytest.raises(InputError, match="no certificates"):
        sort_chain([])


def test_group_chains_shares_issuers(pki: Pki) -> None:
    issuer = Issuer(pki.inter, pki.inter_key)
    leaves = []
    for i in range(3):
        k = generate_key(KeyType.ECDSA_P256)
        leaves.append(
            issue_identity(
                IdentityRequest(f"cas{i}.x"), k.public_key(), now=NOW, days=30, issuer=issuer
            )
        )
    other = make_pki(name="z.example.org", root_name="Z Root")
    batch = [pki.root, leaves[2], other.leaf, pki.inter, leaves[0], other.inter, leaves[1]]
    chains = group_chains(batch)
    assert [c.leaf for c in chains] == [leaves[2], other.leaf, leaves[0], leaves[1]]
    for c in chains:
        assert c.extras == ()
    assert chains[0].intermediates == (pki.inter,)
    assert chains[0].root == pki.root
    assert chains[1].intermediates == (other.inter,)
    assert chains[1].missing_issuer == other.root.subject


def test_key_index_matches_by_public_key(pki: Pki, rsa_pki: Pki) -> None:
    index = KeyIndex.from_keys([rsa_pki.leaf_key, pki.leaf_key, pki.inter_key])
    assert len(index) == 3
    assert index.match(pki.leaf) is pki.leaf_key
    assert index.match(rsa_pki.leaf) is rsa_pki.leaf_key
    assert index.match(pki.root) is None
    assert public_key_fingerprint(pki.leaf_key) in index


def test_key_index_over_store_records(pki: Pki) -> None:
    records = {public_key_fingerprint(pki.leaf_key): ("cas1", "pending")}
    index: KeyIndex[tuple[str, str]] = KeyIndex(records)
    assert index.match(pki.leaf) == ("cas1", "pending")
    index.add(public_key_fingerprint(pki.leaf_key), ("other", "x"))  # first one wins
    assert index.match(pki.leaf) == ("cas1", "pending")


def test_key_index_is_a_lookup_not_pairwise() -> None:
    # 300 certificates against 300 keys: matching all must cost about as much as computing
    # 300 fingerprints, not 90,000 comparisons.
    issuer_key = generate_key(KeyType.ECDSA_P256)
    issuer = Issuer(make_root_ca("r", issuer_key, now=NOW, days=10), issuer_key)
    keys = [generate_key(KeyType.ECDSA_P256) for _ in range(300)]
    certs = [
        issue_identity(IdentityRequest(f"h{i}"), k.public_key(), now=NOW, days=1, issuer=issuer)
        for i, k in enumerate(keys)
    ]
    index = KeyIndex.from_keys(keys)
    t0 = time.perf_counter()
    matched = [index.match(c) for c in reversed(certs)]
    elapsed = time.perf_counter() - t0
    assert matched == list(reversed(keys))
    t0 = time.perf_counter()
    for c in certs:
        public_key_fingerprint(c.public_key())
    baseline = time.perf_counter() - t0
    assert elapsed < 5 * baseline + 0.01
