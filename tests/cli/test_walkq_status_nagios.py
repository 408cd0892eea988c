"""Walkthrough Q: ``ccapki status --nagios`` of an identity the file plans but that has no
certificate yet (a third-party CAS before its CSR): the line said "None days left"."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, ok, standalone, write


def test_nagios_line_of_an_identity_without_a_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(cas=[standalone("cas-med", "10.0.4.10", source="third-party")])
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    r = cli("status", "--nagios")
    assert r.code == 1, r.both
    assert r.out.startswith("CCAPKI WARNING - 1 identity without a certificate"), r.out
    lines = [line for line in r.out.splitlines()[1:] if "cas-med" in line]
    assert len(lines) == 1, r.out
    assert "None" not in lines[0]
    assert lines[0].startswith("identity cas-med: no certificate yet"), lines[0]
    assert "`ccapki csr cas-med`" in lines[0]  # what to do next, as the table's note says
