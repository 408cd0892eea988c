"""Walk 15: ``trust check``, ``trust plan --rotate`` and ``renew --due`` as a new administrator
met them.

- stack-accepted web-PKI refusals (a third-party CA without keyUsage) are warnings of their
  own kind: nothing breaks on the channel and no renewal changes them, so alone they leave
  ``trust check`` at exit 0; expiry warnings still exit 1 ("renew before the outage");
- before ``trust apply`` such a CA fails the CAM/CAS link for the missing root alone (fix:
  ``ccapki trust apply``), not with "re-issue CA ..." for a third party's CA;
- a true self-signed CAS certificate that expired fails its CAM/CAS links (as the fix text
  says), although Java PKIX does not read a trust anchor's dates;
- renewal and rotation steps name each certificate added or removed by its fingerprint and
  expiry;
- rotating an identity to the source it has already says what that means.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kit.cli import CliRunner, ha_pair, ok, standalone

from .conftest import (
    THIRD_PARTY_DEP,
    deployment,
    import_signed_by,
    make_plain_root,
    open_store,
)

DAY = dt.timedelta(days=1)


def _cells(doc: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["appliance"], c["channel"]): c for c in doc["cells"]}


@pytest.fixture
def plain_imported(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path, wall_clock: None
) -> Path:
    """cas-tp's identity from a root made with plain `openssl req -x509` (no keyUsage),
    imported; the trust stores not yet changed (openssl stamps its certificates with the
    machine's clock: so do these tests)."""
    deployed(THIRD_PARTY_DEP)
    key, root = make_plain_root(tmp_path)
    import_signed_by(cli, tmp_path, key, root)
    return root


def test_before_trust_apply_the_link_fails_for_the_missing_root_not_the_key_usage(
    cli: CliRunner, plain_imported: Path
) -> None:
    r = cli("trust", "check", "--json")
    assert r.code == 1, r.both
    cells = _cells(r.json())
    for a in ("cam-a", "cam-b", "cas-tp"):
        cell = cells[(a, "cam-cas")]
        assert cell["status"] == "fail", cell
        for f in cell["findings"]:
            assert "[untrusted-root]" in f, f
            assert "re-issue" not in f, f
            assert "`ccapki trust apply` adds it" in f, f
    assert not any("re-issue CA" in f for c in cells.values() for f in c["findings"]), (
        "a third party's CA is never the administrator's to re-issue"
    )
    ok(cli("trust", "apply"))
    cells = _cells(ok(cli("trust", "check", "--json")).json())
    assert cells[("cam-a", "cam-cas")]["status"] == "warn"


def test_stack_accepted_warnings_alone_exit_0_and_are_not_renewals(
    cli: CliRunner, plain_imported: Path
) -> None:
    ok(cli("trust", "apply"))
    r = cli("trust", "check", "--json")
    assert r.code == 0, r.both
    doc = r.json()
    assert doc["ok"] is True
    cells = _cells(doc)
    cell = cells[("cam-a", "cam-cas")]
    assert cell["status"] == "warn"
    assert cell["renewal_warnings"] == []
    assert cell["strictness_warnings"] == cell["warnings"]
    assert any("keyUsage" in w for w in cell["strictness_warnings"])
    assert {w["kind"] for w in doc["warnings"]} == {"strictness"}
    text = cli("trust", "check")
    assert text.code == 0, text.both
    assert "renew before the outage" not in text.out
    assert "stack-accepted (nothing breaks on these channels" in text.out
    assert text.out.rstrip().endswith("clients applying web-PKI rules may refuse")
    assert "all pass; " in text.out


def test_a_renewal_due_beside_strictness_warnings_still_exits_1(
    cli: CliRunner, plain_imported: Path
) -> None:
    ok(cli("trust", "apply"))
    later = dt.datetime.now(dt.UTC) + 290 * DAY  # cas-tp's 300 days: 10 left
    r = cli("trust", "check", "--json", now=later)
    assert r.code == 1, r.both
    doc = r.json()
    assert doc["ok"] is False
    kinds = {w["kind"] for w in doc["warnings"]}
    assert kinds == {"renewal", "strictness"}
    cell = _cells(doc)[("cas-tp", "agent")]
    assert len(cell["renewal_warnings"]) == 1
    assert "[expiring-soon]" in cell["renewal_warnings"][0]
    text = cli("trust", "check", now=later)
    assert text.code == 1
    assert "all pass today, but 1 warning above: renew before the outage" in text.out
    assert "3 stack-accepted warnings above" in text.out


#: CCA 4.7.2: cas-ward keeps its three-month true self-signed certificate.
SELF_SIGNED_DEP = deployment(
    release="4.7.2",
    cam=ha_pair("cam", "10.0.0"),
    cas=[ha_pair("cas-ward", "10.5.0", source="self-signed"), standalone("cas-one", "10.6.0.1")],
)


def _not_after(home: Path, identity: str) -> dt.datetime:
    with open_store(home) as store:
        ident = store.identities.get(identity)
    assert ident is not None
    return ident.certificate.not_valid_after_utc


def test_an_expired_true_self_signed_cas_keeps_its_cam_cas_links_and_says_so(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """Walkthrough: the cam-cas cells said WARN (Java accepts it) while the fix text in the
    same cell said the CAM/CAS links fail. Java trusts a directly trusted certificate
    whatever its dates (the real JSSE does, tools/differential.py): the cells stay WARN,
    and the fix says what fails (agent, web login, admin GUI) and what still passes."""
    deployed(SELF_SIGNED_DEP)
    after = _not_after(home, "cas-ward") + 2 * DAY
    r = cli("trust", "check", "--json", now=after)
    assert r.code == 1
    cells = _cells(r.json())
    for a in ("cam-a", "cam-b", "cas-ward-a", "cas-ward-b"):
        cell = cells[(a, "cam-cas")]
        assert cell["status"] == "warn", (a, cell)
        texts = [*cell["findings"], *cell["warnings"]]
        assert not any("until then these fail" in t and "CAM/CAS links;" in t for t in texts)
    web = cells[("cas-ward-a", "web-login")]
    assert web["status"] == "fail"
    fix = next(f for f in web["findings"] if "[expired]" in f)
    assert "until then these fail: its agent, web login and admin GUI" in fix
    assert "its CAM/CAS links" in fix
    assert "still pass" in fix
    assert cells[("cas-one", "cam-cas")]["status"] == "pass"


def _fingerprints(text: str) -> list[tuple[str, str]]:
    return re.findall(r"\[SHA-256 ([0-9a-f]{16}), expires (\d{4}-\d\d-\d\d)\]", text)


def test_renewal_steps_name_each_certificate_added_and_removed(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    deployed(SELF_SIGNED_DEP)
    old_fp = None
    with open_store(home) as store:
        ident = store.identities.get("cas-ward")
        assert ident is not None
        old_fp = ident.fingerprint[:16]
        old_until = f"{ident.certificate.not_valid_after_utc:%Y-%m-%d}"
    soon = _not_after(home, "cas-ward") - 10 * DAY
    r = ok(cli("renew", "cas-ward", now=soon))
    lines = [ln.strip() for ln in r.both.splitlines()]
    adds = [ln for ln in lines if ln.startswith("1. add ")]
    removes = [ln for ln in lines if ln.startswith("3. retire the old issuer: remove ")]
    assert adds, r.both
    assert removes, r.both
    # the certificate to add is made by --commit: its expiry, no fingerprint (walkthrough B:
    # a preview's fingerprint, of a throwaway key, matched nothing --commit made)
    added = {d for ln in adds for d in re.findall(r"--commit makes, expires ([0-9-]{10})\]", ln)}
    removed = {fp for ln in removes for fp in _fingerprints(ln)}
    assert len(added) == 1, adds
    assert not [fp for ln in adds for fp in _fingerprints(ln)], adds
    assert len(removed) == 1, removes
    assert removed == {(old_fp, old_until)}
    # the what-if rotation says the same
    r = ok(cli("trust", "plan", "--rotate", "cas-ward", now=soon))
    assert {fp for ln in r.out.splitlines() if " remove " in ln for fp in _fingerprints(ln)} == {
        (old_fp, old_until)
    }
    assert [ln for ln in r.out.splitlines() if " add " in ln and "made when you rotate" in ln]


def test_rotating_to_the_source_it_has_already_says_what_it_means(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(SELF_SIGNED_DEP)
    r = ok(cli("trust", "plan", "--rotate", "cam", "--to-source", "internal"))
    out = r.out
    assert "switched to" not in out, out
    assert out.startswith(
        "if cam got a new internal certificate now (cam is internal already: a new key and "
        "certificate from the same issuer, "
    ), out
    assert "breaks: nothing breaks" in out
    assert "keep the issuer" in out
    assert "(nothing to add)" in out
    assert "nothing to retire: cam's issuer stays" in out
    assert "add the new issuer" not in out
    js = ok(cli("trust", "plan", "--rotate", "cam", "--json")).json()
    assert js["same_source"] is True
    assert js["meaning"].startswith("cam is internal already")
    # a true self-signed identity renewed as such is a new anchor: the swap is real
    r = ok(cli("trust", "plan", "--rotate", "cas-ward"))
    assert "a new self-signed certificate, its own new anchor" in r.out
    assert any(ln.strip().startswith("1. add ") for ln in r.out.splitlines())
    # another source is a switch, as before
    r = ok(cli("trust", "plan", "--rotate", "cas-ward", "--to-source", "internal"))
    assert r.out.startswith("if cas-ward switched to an internal certificate now:")
