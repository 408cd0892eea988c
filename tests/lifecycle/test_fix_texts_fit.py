"""Walkthrough items 16 and 22: the fix a finding gives fits the identity it is about.

16. An expired (or expiring) identity certificate of a standalone CAS names that CAS and
    says nothing of peers or an HA heartbeat; one of an HA pair names both peers, and the
    heartbeat only on releases whose heartbeat checks certificates (4.7+).
22. Apple's 825-day cap (macOS/iOS refuse longer TLS server certificates) names the setting
    that fixes it, ``validity_days``, and says what the release's default gives (CCA 4.8+
    self-signed identities: five years, as the appliance's temporary certificate). Doing what
    the fix says (and only that: ``apply`` reissues a certificate longer than the file asks
    for) makes the matrix green for Apple clients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kit.certs import NOW
from kit.cli import CliRunner, ha_pair, ok, standalone, write

from .conftest import deployment

Cells = dict[tuple[str, str], dict[str, Any]]


def _cells(cli: CliRunner, now: dt.datetime = NOW) -> tuple[int, Cells]:
    r = cli("trust", "check", "--json", now=now)
    assert r.code in (0, 1), r.both
    return r.code, {(c["appliance"], c["channel"]): c for c in r.json()["cells"]}


def _texts(cell: dict[str, Any], code: str) -> list[str]:
    return [t for t in [*cell["findings"], *cell["warnings"]] if f"[{code}]" in t]


def _dep(release: str) -> str:
    thirty = "validity_days = 30\n"
    return deployment(
        release=release,
        source="perfigo" if release < "4.7" else "internal",
        cam=ha_pair("cam", "10.0.0"),
        cas=[standalone("cas-lab", "10.1.0.1") + thirty, ha_pair("cas-east", "10.2.0") + thirty],
    )


@pytest.mark.parametrize("release", ["4.6.1", "4.8.0"])
def test_expired_fix_fits_standalone_and_pair(
    cli: CliRunner, deployed: Callable[[str], Path], release: str
) -> None:
    deployed(_dep(release))
    _code, cells = _cells(cli, NOW + dt.timedelta(days=45))
    solo = [
        t
        for ch in ("agent", "web-login", "admin-gui", "cam-cas")
        for t in _texts(cells[("cas-lab", ch)], "expired")
        if "cas-lab.example.org expired" in t
    ]
    assert solo, cells[("cas-lab", "web-login")]
    for text in solo:
        fix = text.split(" -> fix: ", 1)[1]
        assert "install it on cas-lab" in fix, fix
        assert "peer" not in fix, fix
        assert "heartbeat" not in fix, fix
        assert "HA" not in fix, fix
        assert "`ccapki apply`" in fix, fix
    pair = [
        t
        for ch in ("agent", "web-login", "admin-gui")
        for t in _texts(cells[("cas-east-a", ch)], "expired")
    ]
    assert pair
    for text in pair:
        fix = text.split(" -> fix: ", 1)[1]
        assert "both peers of the HA pair cas-east (cas-east-a and cas-east-b)" in fix, fix
        # the heartbeat checks the identity certificate from 4.7 on (IPsec)
        assert ("HA heartbeat" in fix) is (release >= "4.7"), fix


def test_expiring_fix_fits_standalone_and_pair(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(_dep("4.8.0"))
    _code, cells = _cells(cli, NOW + dt.timedelta(days=25))  # 5 days left of 30
    [solo] = set(_texts(cells[("cas-lab", "web-login")], "expiring-soon"))
    fix = solo.split(" -> fix: ", 1)[1]
    assert "install it on cas-lab" in fix, fix
    assert "peer" not in fix, fix
    [pair] = set(_texts(cells[("cas-east-a", "web-login")], "expiring-soon"))
    fix = pair.split(" -> fix: ", 1)[1]
    assert "both peers of the HA pair cas-east" in fix, fix


APPLE = ("macos refuses it", "ios refuses it")


def _apple_findings(cells: Cells) -> list[str]:
    return [
        t
        for c in cells.values()
        for t in c["findings"]
        if "[validity-too-long]" in t and t.startswith(APPLE)
    ]


def test_apple_825_day_cap_names_validity_days_and_the_fix_works(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    text = deployment(
        release="4.9.1", source="self-signed", cas=[standalone("cas-lab", "10.1.0.1")]
    )
    path = deployed(text)
    code, cells = _cells(cli)
    assert code == 1
    found = _apple_findings(cells)
    # web login and admin GUI of the CAS, admin GUI of the CAM; macOS and iOS each
    assert {k for k, c in cells.items() if _apple_findings({k: c})} == {
        ("cas-lab", "web-login"),
        ("cas-lab", "admin-gui"),
        ("cam", "admin-gui"),
    }
    for t in found:
        fix = t.split(" -> fix: ", 1)[1]
        assert "set validity_days = 824 or less for this identity in the deployment file" in fix
        assert "`ccapki apply`" in fix
        # the release default is what made it too long
        assert "the 4.9.1 default for a self-signed identity is 1826 days" in fix, fix

    # 825 is not enough: ccapki starts a certificate 5 minutes early, so it lasts longer
    write(path, text.replace('key = "ecdsa-p256"', 'key = "ecdsa-p256"\nvalidity_days = 825'))
    r = ok(cli("apply", path))
    assert "reissued cas-lab v2" in r.out, r.out
    assert _apple_findings(_cells(cli)[1])
    # what the fix says: 824
    write(path, text.replace('key = "ecdsa-p256"', 'key = "ecdsa-p256"\nvalidity_days = 824'))
    r = ok(cli("apply", path))
    assert "reissued cam v3" in r.out, r.out
    assert "reissued cas-lab v3" in r.out, r.out
    code, cells = _cells(cli)
    assert _apple_findings(cells) == []
    assert code == 0, {k: c for k, c in cells.items() if c["status"] not in ("pass", "n/a")}
    # and a second apply changes nothing
    assert "nothing to do" in ok(cli("apply", path)).out
