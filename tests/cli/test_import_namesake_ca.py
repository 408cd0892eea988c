"""Walkthrough: a certificate issued by another store's internal CA for the same deployment
file (a second machine, a store made again) has issuers named exactly as this store's CAs.
Importing it was refused with "no certificate of issuer CN=... Root CA (the missing
intermediate or root)", naming a CA the store visibly holds: the refusal must say that the
CA of that name here did not sign it, and what to do about it."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, error_with_hint, ok


def test_a_certificate_from_a_namesake_ca_says_so(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-store"
    ok(cli("init", "--key-file", home_dir=other))
    ok(cli("apply", FAQ, home_dir=other))
    p12 = tmp_path / "cas-dorm-elsewhere.p12"
    pw = {"CCAPKI_EXPORT_PASSWORD": "export-pw-1"}
    ok(cli("export", "cas-dorm", "--format", "pkcs12", "--out", p12, home_dir=other, env=pw))

    ok(cli("apply", FAQ))  # this store: CAs of the very same names, other keys
    before = cli("inspect", "cas-dorm").out
    r = error_with_hint(cli("import", p12, "--password", "export-pw-1"))
    assert "no certificate of issuer" in r.err, r.both
    assert "did not sign it" in r.err, r.both
    _error, hint = r.err.splitlines()
    assert "the CA that signed it" in hint, hint
    assert cli("inspect", "cas-dorm").out == before  # nothing imported
