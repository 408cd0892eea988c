"""Walkthrough F: ``ccapki inspect FILE`` of a CA's answer in the wrong order (root,
intermediate, certificate) shows the certificate first, its chain after, as ``import``
sorts it (it showed the root as the file's certificate)."""

from __future__ import annotations

import json
from pathlib import Path

from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import OutsideCA, pem
from kit.cli import Cli, ok


def test_inspect_of_a_chain_in_the_wrong_order_shows_the_leaf_first(
    cli: Cli, outside: OutsideCA, tmp_path: Path
) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(
        build_name("cas.example.org", "Org"), key.public_key(), dns=["cas.example.org"]
    )
    path = tmp_path / "returned.pem"
    path.write_bytes(pem(outside.root) + pem(outside.inter) + pem(leaf))
    shown = json.loads(ok(cli("inspect", str(path), "--all", "--json")).out)
    assert [c["common_name"] for c in shown] == [
        "cas.example.org",
        "Outside Trust Issuing CA",
        "Outside Trust Root",
    ]
    first = ok(cli("inspect", str(path), "--format", "pem")).out
    assert first == pem(leaf).decode()
