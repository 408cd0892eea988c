"""Words of `apply` and `import` that said what was not so (a new administrator's walkthrough).

(a) A 4.6 -> 4.7 reissue said "valid for 365 days, the deployment file asks for 90" of a
    file that sets no validity_days: the 90 is the release's default.
(b) `import --force` of a late answer (the CA's answer to an older CSR than the current
    certificate's) still said "it would replace that newer certificate" once it had.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, ok, standalone, third_party_cas1, write


def test_a_validity_the_file_does_not_set_is_called_the_release_default(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = deployment(release="4.6.0", source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    ok(cli("apply", write(tmp_path / "46.toml", old)))
    new = write(tmp_path / "472.toml", old.replace("4.6.0", "4.7.2"))
    r = ok(cli("apply", new, "--dry-run"))
    assert "; valid for 365 days, the release's default is 90\n" in r.out, r.out
    assert "the deployment file asks for" not in r.out


def test_a_validity_the_file_sets_is_what_it_asks_for(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = deployment(release="4.6.0", source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    old = old.replace('key = "ecdsa-p256"\n', 'key = "ecdsa-p256"\nvalidity_days = 200\n')
    ok(cli("apply", write(tmp_path / "46.toml", old)))
    new = old.replace("4.6.0", "4.7.2").replace("validity_days = 200", "validity_days = 60")
    r = ok(cli("apply", write(tmp_path / "472.toml", new), "--dry-run"))
    assert "; valid for 200 days, the deployment file asks for 60\n" in r.out, r.out


def test_a_forced_late_answer_says_it_replaced_the_newer_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    writes = {"CCAPKI_NOW_ALLOW_WRITES": "1"}
    day = dt.timedelta(days=1)
    ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "a", now=NOW + day, env=writes))
    ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "b", now=NOW + 2 * day, env=writes))

    def answer(folder: str) -> Path:
        csr = x509.load_pem_x509_csr((tmp_path / folder / "cas1.csr").read_bytes())
        cert = outside.sign_csr(csr, not_before=NOW + 2 * day)
        return write(tmp_path / f"{folder}.pem", b"".join(pem(c) for c in (cert, *outside.chain)))

    late, newer = answer("a"), answer("b")
    at = NOW + 3 * day
    ok(cli("import", newer, now=at, env=writes))
    refused = cli("import", late, now=at, env=writes)
    assert "which is current: it would replace that newer certificate" in refused.err
    forced = ok(cli("import", late, "--force", now=at, env=writes))
    assert "imported cas1 v3" in forced.out, forced.out
    assert "would replace" not in forced.out, forced.out
    assert (
        "cas1 v2 answers (made 2026-11-29 00:00 UTC), which was current: it replaced that "
        "newer certificate (`ccapki export cas1 --version 2` writes it again)\n"
    ) in forced.out, forced.out
