"""Walkthrough (the FAQ's "moving to a third-party certificate"): the administrator makes a
CSR for an identity the deployment file still gives ``source = "internal"``, has an outside
CA sign it and imports it. Both steps succeeded without a word, and the next ``ccapki apply``
(which the README calls idempotent) replaced the imported certificate with a new internal
one, saying "source changed from third-party to internal" of a file that never changed.
``csr`` and ``import`` must warn, and say what keeps the certificate: ``source =
"third-party"`` for it in the file; the plan says what is so: the store holds a third-party
certificate, the file says internal, and apply replaces it with an internal one."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write


def test_csr_and_import_warn_when_the_file_says_internal(
    cli: Cli, keyfile_store: Path, outside: OutsideCA, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "csrs"
    r = ok(cli("csr", "cas-clinic", "--out", out))
    assert "warning:" in r.both, r.both
    assert 'source = "internal"' in r.both, r.both
    assert 'source = "third-party"' in r.both, r.both

    csr = x509.load_pem_x509_csr((out / "cas-clinic.csr").read_bytes())
    cert = write(tmp_path / "cas-clinic.pem", pem(outside.sign_csr(csr)))
    chain = write(tmp_path / "chain.pem", pem(outside.inter) + pem(outside.root))
    r = ok(cli("import", cert, chain))
    assert "imported cas-clinic" in r.out, r.both
    warned = [line for line in r.both.splitlines() if "warning:" in line]
    assert any('source = "internal"' in w and "apply" in w for w in warned), r.both
    assert any('source = "third-party"' in w for w in warned), r.both
    # what the warning says would happen, does; and why, in true words: the file never
    # changed (it said internal all along), so no "source changed from third-party"
    dry = ok(cli("apply", FAQ, "--dry-run")).out
    assert "would reissue cas-clinic" in dry, dry
    plan = ok(cli("plan", FAQ, "--json")).json()
    reason = {a["identity"]: a["reason"] for a in plan["pending_actions"]}["cas-clinic"]
    assert reason == (
        "the store holds a third-party certificate; the deployment file says internal: "
        "apply replaces it with an internal one"
    ), reason
    for out in (dry, ok(cli("plan", FAQ)).out):
        assert "source changed" not in out, out


def test_no_warning_for_a_third_party_identity(
    cli: Cli, keyfile_store: Path, outside: OutsideCA, tmp_path: Path
) -> None:
    text = FAQ.read_text().replace(
        'name = "cas-clinic"\n', 'name = "cas-clinic"\nsource = "third-party"\n'
    )
    dep = write(tmp_path / "faq-tp.toml", text)
    ok(cli("apply", dep))
    out = tmp_path / "csrs"
    r = ok(cli("csr", "cas-clinic", "--out", out))
    # no source warning (its private address is another warning: see test_san_ips.py)
    said = [w for w in r.both.splitlines() if w.startswith("warning:") and "san_ips" not in w]
    assert said == [], r.both
    csr = x509.load_pem_x509_csr((out / "cas-clinic.csr").read_bytes())
    cert = write(tmp_path / "cas-clinic.pem", pem(outside.sign_csr(csr)))
    chain = write(tmp_path / "chain.pem", pem(outside.inter) + pem(outside.root))
    r = ok(cli("import", cert, chain))
    assert "source =" not in r.both, r.both
