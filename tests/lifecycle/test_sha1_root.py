"""Issue 8, item 6 end to end: a Perfigo-era SHA-1 self-signed root is a root everywhere.

An outside CA whose root is signed with SHA-1 (as the Perfigo root and many old enterprise
roots are) answers the CSR of a third-party CAS; the bundle it returns (leaf, issuing CA,
SHA-1 root) is imported. ``export`` without ``--include-root`` must drop that root, and
``inspect`` must call it a self-signed root, as the trust engine does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from ccapki.pki.keys import KeyType
from kit.certs import OutsideCA, pem
from kit.cli import CliRunner, ok, write
from kit.der import resign_sha1

from .conftest import THIRD_PARTY_DEP, open_store


@pytest.fixture(scope="module")
def sha1_outside() -> OutsideCA:
    """An outside CA (RSA) whose root is re-signed with SHA-1; its issuing CA is unchanged."""
    ca = OutsideCA.make("Legacy Trust", KeyType.RSA_2048)
    root = resign_sha1(ca.root, ca.root_key)
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha1"
    return dataclasses.replace(ca, root=root)


@pytest.fixture
def imported(
    cli: CliRunner, deployed: Callable[[str], Path], sha1_outside: OutsideCA, tmp_path: Path
) -> OutsideCA:
    deployed(THIRD_PARTY_DEP)
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    leaf = sha1_outside.sign_csr(csr)
    ret = write(
        tmp_path / "ret" / "cas-tp.pem",
        pem(leaf) + pem(sha1_outside.inter) + pem(sha1_outside.root),
    )
    ok(cli("import", ret))
    return sha1_outside


def test_import_keeps_the_whole_chain(imported: OutsideCA, home: Path) -> None:
    with open_store(home) as store:
        ident = store.identities.get("cas-tp")
    assert ident is not None
    assert ident.chain == (imported.inter, imported.root)


@pytest.mark.parametrize(("fmt", "kept"), [("chain", 1), ("fullchain", 2)])
def test_export_no_root_drops_the_sha1_root(
    cli: CliRunner, imported: OutsideCA, tmp_path: Path, fmt: str, kept: int
) -> None:
    out = tmp_path / f"cas-tp-{fmt}.pem"
    ok(cli("export", "cas-tp", "--format", fmt, "--no-root", "--out", out))
    certs = x509.load_pem_x509_certificates(out.read_bytes())
    assert len(certs) == kept
    assert imported.root not in certs
    assert certs[-1] == imported.inter
    with_root = tmp_path / f"cas-tp-{fmt}-root.pem"
    ok(cli("export", "cas-tp", "--format", fmt, "--include-root", "--out", with_root))
    assert x509.load_pem_x509_certificates(with_root.read_bytes())[-1] == imported.root


def test_inspect_calls_the_sha1_root_a_self_signed_root(
    cli: CliRunner, imported: OutsideCA, tmp_path: Path
) -> None:
    path = write(tmp_path / "root.pem", pem(imported.root))
    info = ok(cli("inspect", path, "--format", "json")).json()
    assert info["signed_by_kind"] == "root-ca"
    assert info["signature_algorithm"].startswith("rsa-with-sha1")
