"""Walkthrough B (a year of operations, the what-if clock month by month).

A third-party identity inside its renewal window whose renewal CSR awaits the CA: ``renew
--due`` skipped it (rightly) but then said "nothing to renew ...; the next renewal window
opens for cas-tp on <a date already past>": the window that is already open, of the very
identity it had just skipped. The next window named is one still to open.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kit.certs import NOW, OutsideCA
from kit.cli import Cli, deployment, ok, standalone, write

TP = "cas-tp"


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def test_renew_due_names_a_window_still_to_open_when_the_due_one_awaits_the_ca(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(
        tmp_path / "year.toml",
        deployment(cas=[standalone(TP, "10.6.0.1", source="third-party")]),
    )
    ok(cli("apply", f))
    csrs = tmp_path / "csrs"
    ok(cli("csr", TP, "--out", csrs))
    csr = x509.load_pem_x509_csr((csrs / f"{TP}.csr").read_bytes())
    cert = outside.sign_csr(csr, days=180)
    ok(cli("import", write(tmp_path / "tp1.pem", _pem(cert, *outside.chain))))

    inside = cert.not_valid_after_utc - dt.timedelta(days=20)  # a 30-day window: open
    r = ok(cli("renew", "--due", "--commit", "--out", csrs, now=inside))
    assert f"for {TP} (key " in r.out, r.both  # the renewal CSR, pending

    later = inside + dt.timedelta(days=5)
    r = ok(cli("renew", "--due", now=later))
    assert f"skipped {TP}: a CSR made on {inside:%Y-%m-%d} awaits the CA's certificate" in r.out
    opens = re.findall(r"the next renewal window opens for (\S+) on (\d{4}-\d\d-\d\d)", r.out)
    for name, day in opens:
        assert day > f"{later:%Y-%m-%d}", r.out  # still to open, not one already open
        assert name != TP, r.out
    cam_window = NOW + dt.timedelta(days=397 - 30)  # the internal CAM's: 30 days before expiry
    assert opens == [("cam", f"{cam_window:%Y-%m-%d}")], r.out


def test_trust_prune_tells_apart_two_old_certificates_of_one_identity(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """CCA 4.7.2's self-signed CAM renewed twice (every 2 months) before the old ones were
    pruned: ``trust plan --prune`` and ``trust apply --prune`` said "remove cam.example.org's
    certificate (true self-signed) from CAS cas-one ..." twice, word for word, for two
    different certificates. Each line now says which (fingerprint and expiry)."""
    f = write(
        tmp_path / "year.toml",
        deployment(
            release="4.7.2",
            cam=standalone("cam", "10.0.0.1", source="self-signed"),
            cas=[standalone("cas-one", "10.6.0.1")],
        ),
    )
    ok(cli("apply", f))
    for months in (2, 4):
        ok(cli("renew", "--due", "--commit", now=NOW + dt.timedelta(days=30 * months)))
    when = NOW + dt.timedelta(days=125)
    for args in (("trust", "plan", "--prune"), ("trust", "apply", "--prune")):
        out = ok(cli(*args, now=when)).out
        removes = [line for line in out.splitlines() if "remove" in line and "cas-one" in line]
        assert len(removes) == 2, out
        assert len(set(removes)) == 2, out  # told apart
        for line in removes:
            assert re.search(r"\[SHA-256 [0-9a-f]{16}, expires \d{4}-\d\d-\d\d\]", line), line
