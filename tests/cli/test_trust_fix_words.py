"""Words of `trust check` and `trust add` that misled (a new administrator's walkthrough).

(c) `trust check`'s fix for a third-party certificate lacking clientAuth said "re-issue
    cas1": ccapki does not issue it; the fix now is a new CSR and a certificate asked of
    the CA with clientAuth (and serverAuth).
(d) `trust add` of an intermediate CA (CA:TRUE, not self-signed) added it with no word, and
    the store lists it with the trust-store roots: now a warning says it is an
    intermediate, not a root (clients' roots are what export-roots writes).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import SERVER_AUTH, OutsideCA, pem
from kit.cli import Cli, deployment, ok, standalone, write


def test_trust_check_asks_the_ca_for_client_auth_for_a_third_party_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    text = deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")])
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    ok(cli("csr", "cas1", "--out", tmp_path / "c"))
    csr = x509.load_pem_x509_csr((tmp_path / "c" / "cas1.csr").read_bytes())
    server_only = outside.sign_csr(csr, eku=(SERVER_AUTH,))
    answer = b"".join(pem(c) for c in (server_only, *outside.chain))
    ok(cli("import", write(tmp_path / "a.pem", answer)))
    ok(cli("trust", "apply"))
    r = cli("trust", "check")
    assert r.code == 1, r.both
    assert (
        "lacks clientAuth -> fix: make a new CSR (`ccapki csr cas1`) and ask the CA for a "
        "certificate with clientAuth and serverAuth in its extendedKeyUsage (CAM and CAS "
        "authenticate each other both ways), then `ccapki import` it"
    ) in r.out, r.out
    assert "re-issue cas1" not in r.out, r.out


def test_trust_add_of_an_intermediate_warns_it_is_not_a_root(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    ok(cli("apply", write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))))
    inter = write(tmp_path / "inter.pem", pem(outside.inter))
    r = ok(cli("trust", "add", "cas1", inter))
    assert "added: Outside Trust Issuing CA on cas1" in r.out, r.both
    assert (
        "warning: Outside Trust Issuing CA is an intermediate CA (issued by Outside Trust "
        "Root), not a root: an appliance may need it in its trust store (a peer that does "
        "not send it in its chain), but clients trust roots, which `ccapki export-roots "
        "--out DIR` writes"
    ) in r.err, r.both
    root = write(tmp_path / "root.pem", pem(outside.root))
    r = ok(cli("trust", "add", "cas1", root))
    assert "intermediate" not in r.both, r.both
