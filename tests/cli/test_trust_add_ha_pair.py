"""``trust add`` of an HA pair's name: both peers' trust stores, as `renew` and `probe`
take a pair's name. Before: "no appliance named 'cas-dorm'". ``trust list`` and ``trust
remove`` of a pair's name say it is a pair and name its peers."""

from __future__ import annotations

from pathlib import Path

from kit.certs import OutsideCA, pem
from kit.cli import FAQ, Cli, error_with_hint, ok, write


def test_trust_add_of_a_pair_adds_to_both_peers(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    radius = OutsideCA.make("Radius", intermediate=False)
    f = write(tmp_path / "radius-ca.pem", pem(radius.root))
    r = ok(cli("trust", "add", "cas-dorm", f))
    assert r.out.splitlines() == [
        "added: Radius Root on cas-dorm-a",
        "added: Radius Root on cas-dorm-b",
    ], r.out
    for peer in ("cas-dorm-a", "cas-dorm-b"):
        assert "Radius Root" in ok(cli("trust", "list", peer)).out
    r = ok(cli("trust", "add", "cas-dorm", f))  # again: nothing new
    assert r.out.count("already trusted") == 2, r.out

    r = error_with_hint(cli("trust", "list", "cas-dorm"))
    assert "cas-dorm is an HA pair: each of its peers (cas-dorm-a, cas-dorm-b)" in r.err
    assert "`cas-dorm-a`" in r.err
    r = error_with_hint(cli("trust", "remove", "cas-dorm", "abcd1234"))
    assert "is an HA pair" in r.err
    r = error_with_hint(cli("trust", "add", "nowhere", f))
    assert "no appliance named 'nowhere'" in r.err
