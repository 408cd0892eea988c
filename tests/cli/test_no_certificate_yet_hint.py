"""What to do for an identity without a certificate yet, by its source.

Before: `export`, `inspect` and every command needing an identity's certificate said "run
`ccapki apply` (or `ccapki import` for a third-party certificate) first" whatever the
identity's source; for a third-party identity `apply` issues nothing (it says to make a
CSR), so the first half sent the administrator round in a circle. Now the hint follows the
source the deployment file gives the identity."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


def test_the_hint_follows_the_identity_s_source(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        cas=[
            standalone("cas1", "10.1.0.1", source="third-party"),
            standalone("cas2", "10.2.0.1"),
        ]
    )
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    want = (
        "hint: make its CSR (`ccapki csr cas1`), have your CA sign it, then `ccapki import` "
        "the certificate it returns"
    )
    r = error_with_hint(cli("export", "cas1", "--out", tmp_path / "x.pem"))
    assert "identity 'cas1' has no certificate in the store" in r.err, r.err
    assert r.err.splitlines()[1] == want, r.err
    assert not (tmp_path / "x.pem").exists()
    assert error_with_hint(cli("inspect", "cas1")).err.splitlines()[1] == want  # alike
    # once the CA's answer is imported, export works (the hint led somewhere)
    from cryptography import x509

    from kit.certs import OutsideCA, pem

    outside = OutsideCA.make()
    ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas1.csr").read_bytes())
    answer = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    ok(cli("import", write(tmp_path / "answer.pem", answer)))
    ok(cli("export", "cas1", "--out", tmp_path / "x.pem"))
