"""The FAQ's "imported without its intermediate" story, as a new administrator met it.

A third-party certificate taken with ``import --force`` without its issuer has no chain in
the store. Two commands advised wrongly:

- ``trust plan`` (and ``trust apply``, ``apply``, the import's ``next:`` line) put the
  appliance's own CA-signed certificate in the CAM's trust store, to get round the missing
  issuer: against the FAQ ("take the root CAs which signed the Identity certificates"),
  against ``trust check``'s own fix, and broken at the next renewal. Now nothing is added
  for it, and the plan says what is missing and how to give it to ccapki.
- ``doctor`` said to restore the chain from a backup, though it was never complete: no
  backup holds it. Now it says first to import the issuer's certificates (and names it).

Once the issuer's certificates are imported, the plan asks for the CA's root as before.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem, sha256
from kit.cli import Cli, deployment, ok, standalone, write


def _leaf_alone(cli: Cli, tmp_path: Path, outside: OutsideCA) -> x509.Certificate:
    text = deployment(name="er", cas=[standalone("cas-er", "10.7.0.1", source="third-party")])
    ok(cli("apply", write(tmp_path / "er.toml", text)))
    ok(cli("csr", "cas-er", "--out", tmp_path))
    csr = x509.load_pem_x509_csr((tmp_path / "cas-er.csr").read_bytes())
    leaf = outside.sign_csr(csr)
    r = ok(cli("import", write(tmp_path / "back" / "cas-er.pem", pem(leaf)), "--force"))
    # no trust-store addition to make for it: what it lacks is its issuer
    assert "the trust stores lack what the imported certificate needs" not in r.out, r.out
    return leaf


def test_trust_plan_never_trusts_a_ca_signed_leaf_itself(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    leaf = _leaf_alone(cli, tmp_path, outside)
    plan = ok(cli("trust", "plan", "--json")).json()
    assert sha256(leaf) not in {c["fingerprint"] for c in plan}, plan
    r = ok(cli("trust", "plan"))
    assert "cas-er's certificate" not in r.out, r.out
    assert "every trust store holds what its channels need" not in r.out, r.out
    line = next(ln for ln in r.out.splitlines() if "cas-er" in ln)
    assert "Outside Trust Issuing CA" in line, r.out
    assert "ccapki import" in line, r.out
    # trust apply and apply add nothing for it either
    ok(cli("trust", "apply"))
    for appliance in ("cam", "cas-er"):
        listed = ok(cli("trust", "list", appliance, "--json")).json()
        assert sha256(leaf) not in str(listed), listed
    # once the CA's intermediate and root are imported: the CA's root, as ever
    ok(cli("import", write(tmp_path / "ca.pem", pem(outside.inter) + pem(outside.root))))
    plan = ok(cli("trust", "plan", "--json")).json()
    assert sha256(outside.root) in {c["fingerprint"] for c in plan}, plan
    assert sha256(leaf) not in {c["fingerprint"] for c in plan}, plan


def test_doctor_says_to_import_the_issuer_of_a_chain_never_complete(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    _leaf_alone(cli, tmp_path, outside)
    r = cli("doctor")
    assert r.code == 1, r.both
    text = r.out + r.err
    finding = text[text.index("cas-er v1") :]
    finding = finding[: finding.index("\n", finding.index("fix:"))]
    assert "Outside Trust Issuing CA" in finding, finding
    assert "ccapki import" in finding, finding
    # first of all: a backup holds no more of a chain that was never complete
    assert finding.index("ccapki import") < finding.find("backup restore") or (
        "backup restore" not in finding
    ), finding
