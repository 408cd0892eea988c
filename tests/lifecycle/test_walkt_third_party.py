"""Walkthrough T (a third-party CA over a year), the lifecycle's words.

1. ``renew --due`` skipping an identity whose renewal CSR awaits the CA said "`ccapki renew
   NAME` makes another CSR": that is a dry run; ``--commit`` makes it.
2. ``doctor`` of a third-party identity whose current certificate is not valid yet (the
   CA dated it ahead, a restore or ``--force`` took it) said "`ccapki apply FILE` reissues
   it": apply never reissues what an outside CA signs. The fix now names the CSR.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kit.certs import NOW, OutsideCA
from kit.cli import Cli, ok, third_party_cas1


def test_renew_due_says_commit_makes_another_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    later = NOW + dt.timedelta(days=1)  # the renewal's CSR made after the import
    writes = {"CCAPKI_NOW_ALLOW_WRITES": "1"}
    ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "r", now=later, env=writes))
    due = NOW + dt.timedelta(days=320)  # inside the 60-day stage: due
    r = ok(cli("renew", "--due", now=due))
    assert "skipped cas1: a CSR made on" in r.out, r.out
    assert "`ccapki renew cas1 --commit` makes another CSR" in r.out, r.out


def test_doctor_of_a_third_party_certificate_not_yet_valid_names_the_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    third_party_cas1(cli, tmp_path, outside)
    r = cli("doctor", "--json", now=NOW - dt.timedelta(days=2))
    assert r.code == 1, r.both
    found = {p["subject"]: p for p in r.json()["problems"] if p["code"] == "not-yet-valid"}
    assert "apply FILE" in found["cam v1"]["fix"]  # the internal CAM: apply reissues it
    p = found["cas1 v1"]
    assert "its CA dated it ahead, or this machine's clock is behind" in p["message"]
    assert "apply FILE" not in p["fix"], p["fix"]
    assert "`ccapki csr cas1`, then `ccapki import` what the CA returns" in p["fix"], p["fix"]


def test_a_late_answer_to_an_older_csr_does_not_replace_the_newer_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """A renewal's CSR, then another (the first seemed lost), both answered by the CA: the
    answer to the newer one came first and is current; the older one's answer, arriving
    last, made that older request's certificate current over it (a certificate perhaps
    installed already), saying only "imported v3". Now refused (--force takes it)."""
    from cryptography import x509

    from kit.certs import pem
    from kit.cli import error_with_hint, write

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
    assert "imported cas1 v2" in ok(cli("import", newer, now=at, env=writes)).out
    r = cli("import", late, now=at, env=writes)
    error_with_hint(r)
    assert "older than the one cas1 v2 answers" in r.err, r.err
    assert "keep v2 (the CA answered an older request late" in r.err, r.err
    held = ok(cli("import", newer, now=at, env=writes)).out
    assert "already held: cas1 v2\n" in held, held  # v2 stays current, nothing else kept
    forced = ok(cli("import", late, "--force", now=at, env=writes))
    assert "imported cas1 v3" in forced.out, forced.out
    assert "older than the one cas1 v2 answers" in forced.out  # said as a warning
