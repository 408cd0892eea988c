"""Walkthrough: ``trust add APPLIANCE FILE`` with a file that holds a private key beside the
certificate (an ``export --format pem-bundle``, the upload bundle) added the certificate
without a word about the key, while ``trust add --help`` says a trust store never needs
one. The certificate is still added, and a warning says the key was ignored and how to give
the certificate alone."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok


def test_trust_add_warns_of_a_private_key_in_the_file(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    bundle = tmp_path / "cas-dorm.pem"
    ok(cli("export", "cas-dorm", "--format", "pem-bundle", "--out", bundle))
    r = ok(cli("trust", "add", "cas-clinic", bundle, "--force"))
    assert "added: " in r.out, r.both
    warnings = [line for line in r.err.splitlines() if line.startswith("warning: ")]
    assert any("private key" in w and "ignored" in w for w in warnings), r.both
    assert any("--format cert" in w for w in warnings), r.both
    # a file without a key: no such warning
    cert = tmp_path / "cas-dorm.crt"
    ok(cli("export", "cas-dorm", "--format", "cert", "--out", cert))
    r = ok(cli("trust", "add", "cas-annex", cert, "--force"))
    assert "private key" not in r.err, r.both
