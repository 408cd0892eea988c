"""``ccapki check-ha`` on a release before 4.7 (4.6: no IPsec heartbeat between the HA
peers, the FAQ: "in recent codes (4.7.x and 4.8.x)") still said "the IPsec heartbeat fails
on an expired certificate" and "fit for the heartbeat": the HA rules had no release input.
They now take the release profile and, without the heartbeat, say what the pair still
needs (one identity clients meet after a failover, its names, valid, fit for TLS)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ccapki.store import Store
from ccapki.topology.releases import parse_release, profile_for
from ccapki.trust import HA_RULES, HaPair, HaPeer, check_ha
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok, write

#: two years on: the FAQ's certificates (issued at NOW) have expired
LATER = NOW + dt.timedelta(days=730)


def _faq(tmp_path: Path, release: str) -> Path:
    text = Path(FAQ).read_text()
    assert text.count('release = "4.8.0"') == 1
    return write(tmp_path / "d.toml", text.replace('release = "4.8.0"', f'release = "{release}"'))


def test_check_ha_on_4_6_does_not_speak_of_a_heartbeat(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq(tmp_path, "4.6.0")))
    fit = ok(cli("check-ha", "cas-dorm"))
    assert "heartbeat" not in fit.out, fit.out
    assert "key usage fit for TLS both ways" in fit.out, fit.out
    assert "cas-dorm: fit for HA" in fit.out, fit.out
    expired = cli("check-ha", "cas-dorm", now=LATER)
    assert expired.code == 1, expired.both
    (row,) = [line for line in expired.out.splitlines() if "valid now" in line]
    assert row.startswith("FAIL"), expired.out
    assert "after a failover clients refuse an expired certificate" in row, row
    assert "the IPsec heartbeat fails" not in expired.out, expired.out
    doc = cli("check-ha", "cas-dorm", "--json").json()
    assert not any("heartbeat" in c["item"] for c in doc["checks"]), doc
    # a file without its key: what cannot be told is the failover, not a heartbeat
    bundle, cert = tmp_path / "b.pem", tmp_path / "c.pem"
    ok(cli("export", "cas-dorm", "--format", "pem-bundle", "--out", bundle))
    ok(cli("export", "cas-dorm", "--format", "cert", "--out", cert))
    keyless = cli("check-ha", "cas-dorm", "--primary", bundle, "--secondary", cert)
    assert keyless.code == 1, keyless.both
    assert "cas-dorm: cannot tell whether both peers serve the one identity" in keyless.out
    assert "heartbeat" not in keyless.out, keyless.out


def test_check_ha_on_4_7_keeps_the_heartbeat_rows(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq(tmp_path, "4.7.2")))
    r = ok(cli("check-ha", "cas-dorm"))
    assert "valid now (the IPsec heartbeat fails on an expired certificate)" in r.out, r.out
    assert "key usage fit for the heartbeat" in r.out, r.out


def test_the_rules_follow_the_release_profile(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    with Store.open(keyfile_store) as store:
        cert = store.identities.current()["cas-dorm"].certificate
    peer = HaPeer(cert, None)
    pair = HaPair("cas-dorm", (), peer, peer)
    old = [c.item for c in check_ha(pair, NOW, profile=profile_for(parse_release("4.6")))]
    new = [c.item for c in check_ha(pair, NOW, profile=profile_for(parse_release("4.8")))]
    assert new == [r.item for r in HA_RULES] == [c.item for c in check_ha(pair, NOW)]
    assert len(old) == len(new)
    assert [i for i in old if "heartbeat" in i] == [], old
