"""Walkthrough 22, item 4: an imported bundle holding an unrelated CA certificate (the
leaf, its intermediate, and another CA's intermediate) kept that stray CA as an outside CA
of the store. A CA on no imported (or held) certificate's chain is now ignored, said so
("ignored: X (in no certificate's chain)"), unless its file gave CAs alone (a root or
intermediate imported on purpose). Each leaf's own path (cross-signed intermediates,
tests/lifecycle/test_walkf_import.py) is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.lifecycle.importing import plan_import
from ccapki.pki.certs import display_name, fingerprint
from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import NOW, OutsideCA
from kit.cli import Cli, ok

from .conftest import THIRD_PARTY_DEP, open_store, tp_names
from .test_walkf_import import DEP, material, pending


@pytest.fixture(scope="module")
def stranger() -> OutsideCA:
    return OutsideCA.make("Stranger Trust")


def _leaf(outside: OutsideCA) -> tuple[object, x509.Certificate]:
    key = generate_key(KeyType.ECDSA_P256)
    cert = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), key.public_key(), **tp_names()
    )
    return key, cert


def test_a_stray_ca_in_a_leaf_bundle_is_ignored(outside: OutsideCA, stranger: OutsideCA) -> None:
    key, leaf = _leaf(outside)
    bundle = material("cas-tp-bundle.pem", leaf, *outside.chain, stranger.inter)
    plan = plan_import([bundle], DEP, pending(key), NOW)
    assert [i.identity for i in plan.imported] == ["cas-tp"]
    assert fingerprint(stranger.inter) not in {fingerprint(c) for c in plan.new_cas}
    assert plan.ignored == (f"{display_name(stranger.inter)} (in no certificate's chain)",)
    # the leaf's own chain is kept as it was
    assert fingerprint(outside.inter) in {fingerprint(c) for c in plan.imported[0].chain}


def test_cas_given_alone_are_kept(outside: OutsideCA, stranger: OutsideCA) -> None:
    key, leaf = _leaf(outside)
    alone = plan_import([material("roots.pem", stranger.root, stranger.inter)], DEP, pending(), NOW)
    assert {fingerprint(c) for c in alone.new_cas} == {
        fingerprint(stranger.root),
        fingerprint(stranger.inter),
    }
    assert alone.ignored == ()
    # beside a leaf's file, a file of CAs alone is still a CA import: kept
    both = plan_import(
        [material("cas-tp.pem", leaf, *outside.chain), material("root.pem", stranger.root)],
        DEP,
        pending(key),
        NOW,
    )
    assert fingerprint(stranger.root) in {fingerprint(c) for c in both.new_cas}
    assert both.ignored == ()


def test_import_says_ignored_and_keeps_no_stray_ca(
    cli: Cli, deployed: object, home: Path, tmp_path: Path, outside: OutsideCA, stranger: OutsideCA
) -> None:
    deployed(THIRD_PARTY_DEP)  # type: ignore[operator]
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    leaf = outside.sign_csr(csr, **tp_names())
    pem = serialization.Encoding.PEM
    bundle = tmp_path / "returned.pem"
    bundle.write_bytes(
        b"".join(c.public_bytes(pem) for c in (leaf, *outside.chain, stranger.inter))
    )
    r = ok(cli("import", bundle))
    assert f"ignored: {display_name(stranger.inter)} (in no certificate's chain)" in r.out, r.out
    assert "imported cas-tp" in r.out
    with open_store(home) as store:
        held = {c.fingerprint for c in store.cas.list()}
    assert fingerprint(stranger.inter) not in held
    assert f"kept CA {display_name(stranger.inter)}" not in r.out
