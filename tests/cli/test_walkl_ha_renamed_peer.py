"""Walkthrough L: a third-party HA pair whose secondary is renamed in the deployment file.

The store's certificate no longer names the new secondary, so ``check-ha`` fails the names
row; it used to advise ``ccapki export PAIR --for-peer`` (the very certificate lacking the
name), which cannot help. It now says a new certificate is needed: a new CSR (``ccapki
csr PAIR``) for a third-party pair, then both peers at once.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write

PAIR = "cas-dorm"
PW = "pw-walkl-1234"


def _third_party_faq(tmp_path: Path, secondary: str) -> Path:
    text = Path(FAQ).read_text()
    old = 'virtual_hostname = "cas-dorm.example.edu"'
    assert text.count(old) == 1
    text = text.replace(old, f'{old}\nsource = "third-party"')
    text = text.replace('name = "cas-dorm-b", hostname = "cas-dorm-b.', secondary)
    return write(tmp_path / "d.toml", text)


def test_check_ha_says_a_new_csr_when_the_store_s_certificate_lacks_a_renamed_peer(
    cli: Cli, tmp_path: Path
) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", _third_party_faq(tmp_path, 'name = "cas-dorm-b", hostname = "cas-dorm-b.')))
    ok(cli("csr", PAIR, "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / f"{PAIR}.csr").read_bytes())
    outside = OutsideCA.make(now=NOW)
    bundle = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "returned.pem", bundle)))
    ok(cli("trust", "apply"))
    assert ok(cli("check-ha", PAIR)).out.count("fit for HA") == 1

    # the secondary renamed: cas-dorm-b -> cas-dorm-c
    ok(cli("apply", _third_party_faq(tmp_path, 'name = "cas-dorm-c", hostname = "cas-dorm-c.')))
    r = cli("check-ha", PAIR)  # the store's identity
    assert r.code == 1, r.both
    assert "missing: cas-dorm-c.example.edu" in r.out
    assert f"ccapki csr {PAIR}" in r.out, r.out
    assert f"ccapki export {PAIR} --for-peer" not in r.out, r.out
    # the files taken off both peers
    a, b = tmp_path / "a.p12", tmp_path / "b.p12"
    ok(cli("export", PAIR, "--format", "pkcs12", "--out", a, "--password", PW))
    ok(cli("export", PAIR, "--for-peer", "--out", b, "--password", PW))
    r = cli("check-ha", PAIR, "--primary", a, "--secondary", b, "--password", PW)
    assert r.code == 1, r.both
    assert f"ccapki csr {PAIR}" in r.out, r.out
    assert f"ccapki export {PAIR} --for-peer" not in r.out, r.out
