"""Walkthrough E (the FAQ, question by question): "take the root certificate which has
signed the certificate for your CASs and install them on the client machines".

A third-party certificate imported with ``--force`` without its issuer (the FAQ's own
story: the CA's answer uploaded without its intermediate) has no chain in the store.
``export-roots`` took that bare leaf for the anchor and said "install on clients: cas's own
certificate (true self-signed)", though the certificate is signed by a CA: the wrong
advice, and once the CA's intermediate and root were imported it still wrote the leaf,
while ``trust check`` (clients with what ccapki says to install) and ``trust plan`` both
completed the chain and asked for the CA's root. Now export-roots completes the chain from
the CAs the store holds, as they do, and says when it cannot: the root is unknown.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem, sha256
from kit.cli import Cli, deployment, ok, standalone, write


def _third_party_leaf_alone(cli: Cli, tmp_path: Path, outside: OutsideCA) -> Path:
    """A CAS whose CA-signed certificate was imported without its chain (``--force``)."""
    text = deployment(name="walke", cas=[standalone("cas-tp", "10.7.0.1", source="third-party")])
    ok(cli("apply", write(tmp_path / "walke.toml", text)))
    ok(cli("csr", "cas-tp", "--out", tmp_path))
    csr = x509.load_pem_x509_csr((tmp_path / "cas-tp.csr").read_bytes())
    leaf = write(tmp_path / "back" / "cas-tp.pem", pem(outside.sign_csr(csr)))
    ok(cli("import", leaf, "--force"))
    return leaf


def test_export_roots_never_calls_a_ca_signed_leaf_true_self_signed(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    _third_party_leaf_alone(cli, tmp_path, outside)
    r = ok(cli("export-roots", "--out", tmp_path / "roots"))
    line = next(ln for ln in r.out.splitlines() if "cas-tp" in ln)
    assert "true self-signed" not in line, r.out
    # it says the root is unknown, and how to give it to ccapki
    assert "Outside Trust Issuing CA" in line, line
    assert "ccapki import" in line, line
    doc = ok(cli("export-roots", "--out", tmp_path / "roots-json", "--json")).json()
    entry = next(e for e in doc["roots"] if e["identities"] == ["cas-tp"])
    assert entry["self_signed_leaf"] is False, entry
    assert entry["complete"] is False, entry


def test_export_roots_gives_the_ca_root_once_the_store_holds_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    _third_party_leaf_alone(cli, tmp_path, outside)
    cas = write(tmp_path / "ca" / "chain.pem", pem(outside.inter) + pem(outside.root))
    r = ok(cli("import", cas))
    # the root is in cas-tp's chain (through the intermediate), and the CAM lacks it: import
    # says so, as trust plan does (it said "in the chain of no certificate", "no appliance
    # trusts it for that")
    assert "kept CA Outside Trust Root (in the chain of cas-tp)" in r.out, r.out
    assert "next: the trust stores lack what the imported certificate needs" in r.out, r.out
    # trust plan asks the CAM for the outside root (the chain completed from the store)
    plan = ok(cli("trust", "plan", "--json")).json()
    assert any("Outside Trust Root" in str(change) for change in plan), plan
    out = tmp_path / "roots"
    r = ok(cli("export-roots", "--out", out))
    assert "install on clients: Outside Trust Root (for cas-tp)" in r.out, r.out
    written = x509.load_pem_x509_certificates((out / "ccapki-roots.pem").read_bytes())
    assert sha256(outside.root) in {sha256(c) for c in written}
    # and the clients holding exactly those files pass, as trust check's default assumes
    check = cli("trust", "check", "--clients", out / "ccapki-roots.pem", "--json")
    installed = cli("trust", "check", "--json")
    assert check.json()["cells"] == installed.json()["cells"]
