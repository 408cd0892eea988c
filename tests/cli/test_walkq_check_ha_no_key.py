"""Walkthrough Q: ``check-ha --primary FILE --secondary FILE`` where one file holds the
certificate alone (no private key: the certificate exported off the appliance, not its
bundle). A CCA appliance cannot hold a certificate without its key (the FAQ's "private
key not found"), so a keyless file says nothing about the peer's key: the verdict was
"HA broken: the IPsec heartbeat will not come up" with no next step; it now says it
cannot tell and which file to give instead."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, ok

PAIR = "cas-dorm"


def test_a_file_without_a_key_is_not_a_broken_heartbeat(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    bundle, cert = tmp_path / "a.pem", tmp_path / "b.pem"
    ok(cli("export", PAIR, "--format", "pem-bundle", "--out", bundle))
    ok(cli("export", PAIR, "--format", "cert", "--out", cert))
    r = cli("check-ha", PAIR, "--primary", bundle, "--secondary", cert)
    assert r.code == 1, r.both  # a finding, not a verdict of fit
    assert "Traceback" not in r.both
    assert "HA broken" not in r.out
    assert "will not come up" not in r.out
    last = r.out.strip().splitlines()[-1]
    assert last.startswith(f"{PAIR}: cannot tell"), r.out
    assert "the secondary's file holds no private key" in last
    assert f"ccapki export {PAIR} --for-peer" in last  # what to give instead
    doc = cli("check-ha", PAIR, "--primary", bundle, "--secondary", cert, "--json").json()
    assert doc["ok"] is False
    assert doc["keyless"] == ["secondary"]


def test_both_keys_present_still_judged(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    ok(cli("apply", FAQ))
    bundle = tmp_path / "a.pem"
    ok(cli("export", PAIR, "--format", "pem-bundle", "--out", bundle))
    r = ok(cli("check-ha", PAIR, "--primary", bundle, "--secondary", bundle))
    assert r.out.strip().splitlines()[-1] == f"{PAIR}: fit for HA"
    assert (
        cli("check-ha", PAIR, "--primary", bundle, "--secondary", bundle, "--json").json()[
            "keyless"
        ]
        == []
    )
