"""Issue 8, item 10: ``trust check`` cannot look green while an outage is a week away.

A channel whose certificates all verify today, but one of which is inside its renewal window
(a third of its lifetime, at most 30 days: the window ``apply`` renews in), is a warning cell:
the finding names the certificate and the days left, and ``trust check`` exits 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.x509.oid import NameOID

from kit.certs import NOW
from kit.cli import CliRunner, ha_pair, ok, standalone

from .conftest import deployment, open_store

CHANNELS = ("cam-cas", "ha-heartbeat", "agent", "web-login", "admin-gui")

#: CCA 4.7.2: cas-one keeps its three-month temporary (true self-signed) certificate, the
#: others come from the internal PKI (397 days).
DEP = deployment(
    release="4.7.2",
    cam=ha_pair("cam", "10.0.0"),
    cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-one", "10.6.0.1", source="self-signed")],
)


def _expiry_of(home: Path, identity: str) -> dt.datetime:
    with open_store(home) as store:
        ident = store.identities.get(identity)
    assert ident is not None
    return ident.certificate.not_valid_after_utc


def _check(cli: CliRunner, now: dt.datetime) -> tuple[int, dict[tuple[str, str], Any]]:
    r = cli("trust", "check", "--json", now=now)
    assert r.code in (0, 1), r.both
    js = r.json()
    assert js["ok"] is (r.code == 0)
    return r.code, {(c["appliance"], c["channel"]): c for c in js["cells"]}


def test_six_days_before_expiry_the_cells_warn_and_exit_1(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    deployed(DEP)
    expires = _expiry_of(home, "cas-one")
    assert expires - NOW < dt.timedelta(days=100)  # the 4.7.2 temporary certificate
    six_days_before = expires - dt.timedelta(days=6, hours=1)

    code, cells = _check(cli, six_days_before)
    assert code == 1
    assert not any(c["status"] == "fail" for c in cells.values()), cells
    concerned = {("cas-one", ch) for ch in ("cam-cas", "agent", "web-login", "admin-gui")}
    concerned |= {("cam-a", "cam-cas"), ("cam-b", "cam-cas")}  # their links with cas-one
    for key in concerned:
        c = cells[key]
        assert c["status"] == "warn", (key, c)
        [warning] = c["warnings"]
        assert "[expiring-soon]" in warning
        assert "cas-one.example.org" in warning
        assert "6 days left" in warning
        assert "ccapki apply" in warning
    for key, c in cells.items():
        if key not in concerned:
            assert c["status"] in ("pass", "n/a"), (key, c)
            assert c["warnings"] == []

    r = cli("trust", "check", now=six_days_before)
    assert r.code == 1
    assert "WARN" in r.out
    assert "cas-one.example.org expires on" in r.out
    assert "6 days left" in r.out
    assert "all pass today, but 1 warning above" in r.out


def test_outside_the_renewal_window_it_is_green(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    deployed(DEP)
    expires = _expiry_of(home, "cas-one")
    code, cells = _check(cli, expires - dt.timedelta(days=31))
    assert code == 0
    assert {c["status"] for c in cells.values()} <= {"pass", "n/a"}
    # one day inside the 30-day window: a warning
    code, cells = _check(cli, expires - dt.timedelta(days=29))
    assert code == 1
    assert cells[("cas-one", "agent")]["status"] == "warn"
    assert "29 days left" in cells[("cas-one", "agent")]["warnings"][0]


def test_apply_renews_what_trust_check_warns_about(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """The warning's fix works: after ``apply`` at that time the matrix is green again."""
    deployed(DEP)
    soon = _expiry_of(home, "cas-one") - dt.timedelta(days=6)
    assert _check(cli, soon)[0] == 1
    r = ok(cli("apply", now=soon))
    assert "cas-one" in r.out
    code, cells = _check(cli, soon)
    assert code == 0, {k: c for k, c in cells.items() if c["status"] != "pass"}


def test_an_expiring_ca_warns_every_channel_it_anchors(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """The internal issuing CA (five years) outlives the identities it signs: at the time
    an identity renewed by ``apply`` is current, the warning names the CA and is shared."""
    deployed(deployment(release="4.8.0", cas=[standalone("cas-one", "10.6.0.1")]))
    with open_store(home) as store:
        ident = store.identities.get("cas-one")
    assert ident is not None
    inter = ident.chain[0]
    when = inter.not_valid_after_utc - dt.timedelta(days=3)
    ok(cli("apply", now=when - dt.timedelta(days=200)))  # fresh identities, same CA
    code, cells = _check(cli, when)
    assert code == 1
    warned = [c for c in cells.values() if c["warnings"]]
    assert warned
    texts = {w for c in warned for w in c["warnings"]}
    [text] = texts  # one warning, about the CA: the renewed identities are fresh
    ca_name = inter.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert f"intermediate CA {ca_name} expires on" in text
    assert "3 days left" in text
    assert "renew CA" in text
