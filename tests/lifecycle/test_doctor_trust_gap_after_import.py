"""``doctor``'s warning of trust-store entries missing, right after an import.

Before: the causes it named were "removed by hand with `ccapki trust remove`, or never
added: an apply interrupted after its last identity": after an ordinary `import` of a CA's
answer (whose trust-store changes `ccapki trust apply` makes) neither was what happened.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, ok, standalone, write


def test_the_warning_names_an_import_and_trust_apply(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = write(
        tmp_path / "d.toml",
        deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")]),
    )
    ok(cli("apply", f))
    ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    req = x509.load_pem_x509_csr((tmp_path / "csr" / "cas1.csr").read_bytes())
    outside = OutsideCA.make()
    answer = b"".join(pem(c) for c in (outside.sign_csr(req), *outside.chain))
    ok(cli("import", write(tmp_path / "a.pem", answer)))

    body = cli("doctor", "--json").json()
    (gap,) = [p for p in body["problems"] if p["code"] == "trust-incomplete"]
    assert "a certificate imported since" in gap["message"], gap
    assert "`ccapki trust apply` makes" in gap["message"]
    ok(cli("trust", "apply"))
    body = cli("doctor", "--json").json()
    assert not [p for p in body["problems"] if p["code"] == "trust-incomplete"]
