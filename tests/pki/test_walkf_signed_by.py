"""Walkthrough F: ``inspect`` of a third-party certificate whose issuing CA the store keeps
as an outside CA (a cross-signed intermediate's other path, kept from an import) says
"third-party CA", never "internal CA" (the store's own CAs only)."""

from __future__ import annotations

from ccapki.pki.inspect import KnownCA, signed_by
from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import OutsideCA


def test_an_outside_ca_the_store_keeps_signs_third_party(outside: OutsideCA) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(
        build_name("cas.example.org", "Org"), key.public_key(), dns=["cas.example.org"]
    )
    kept = [KnownCA("Outside Trust Issuing CA", "external", outside.inter)]
    assert signed_by(leaf, kept, outside.chain) == (
        "third-party",
        "signed by Outside Trust Issuing CA (third-party CA)",
    )
    # the store's own intermediate is still "internal"
    own = [KnownCA("Outside Trust Issuing CA", "internal-ca", outside.inter)]
    assert signed_by(leaf, own, outside.chain)[0] == "internal"
