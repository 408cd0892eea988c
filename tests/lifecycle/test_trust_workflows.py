"""Issue 4 end to end: trust stores filled by ``apply``, ``trust check/plan/apply``, the FAQ's
four CAM/CAS cases broken and repaired, HA, expiry, releases, client policies, rotation."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from kit.certs import NOW, OutsideCA, pem, sha256
from kit.cli import CliRunner, ha_pair, ok, standalone, write

from .conftest import THIRD_PARTY_DEP, deployment, open_store

Cells = dict[tuple[str, str], dict[str, Any]]
CHANNELS = ("cam-cas", "ha-heartbeat", "agent", "web-login", "admin-gui")
APPLIANCES = ("cam-a", "cam-b", "cas-ha-a", "cas-ha-b", "cas-one")


def dep(source: str = "internal", release: str = "4.8.0") -> str:
    """A CAM HA pair, a CAS HA pair and a standalone CAS, all from ``source``."""
    return deployment(
        release=release,
        source=source,
        cam=ha_pair("cam", "10.0.0"),
        cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-one", "10.6.0.1")],
    )


def check(cli: CliRunner, *args: str | Path, now: dt.datetime | None = None) -> tuple[int, Cells]:
    r = cli("trust", "check", "--json", *args, now=now)
    assert r.code in (0, 1), r.both
    js = r.json()
    assert js["ok"] is (r.code == 0)
    return r.code, {(c["appliance"], c["channel"]): c for c in js["cells"]}


def failing(cells: Cells) -> set[tuple[str, str]]:
    return {k for k, c in cells.items() if c["status"] == "fail"}


def trust_fps(cli: CliRunner, appliance: str) -> dict[str, str]:
    """subject -> fingerprint of an appliance's trust store."""
    rows = ok(cli("trust", "list", appliance, "--json")).json()
    return {r["subject"]: r["fingerprint"] for r in rows}


def all_trust(cli: CliRunner, appliances: tuple[str, ...] = APPLIANCES) -> dict[str, Any]:
    return {a: ok(cli("trust", "list", a, "--json")).json() for a in appliances}


def remove_anchor(cli: CliRunner, appliance: str, subject_part: str) -> str:
    fps = trust_fps(cli, appliance)
    match = [fp for subject, fp in fps.items() if subject_part in subject]
    assert len(match) == 1, fps
    r = ok(cli("trust", "remove", appliance, match[0][:20]))
    assert f"removed 1 certificate from {appliance}" in r.out
    return match[0]


@pytest.fixture
def third_party(
    cli: CliRunner, deployed: Callable[[str], Path], outside: OutsideCA, tmp_path: Path
) -> None:
    """THIRD_PARTY_DEP with cas-tp's certificate from the outside CA imported, then ``apply``."""
    deployed(THIRD_PARTY_DEP)
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    ret = write(
        tmp_path / "ret" / "cas-tp.pem",
        pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root),
    )
    ok(cli("import", ret))
    r = ok(cli("apply"))
    assert "added root CA Outside Trust Root to CAM cam-a" in r.out


# ---------------------------------------------------------------------------- 6. apply


@pytest.mark.parametrize(
    ("source", "release"),
    [("internal", "4.8.0"), ("perfigo", "4.8.0"), ("perfigo", "4.6.1"), ("self-signed", "4.7.2")],
)
def test_apply_fills_trust_stores_all_green(
    cli: CliRunner, deployed: Callable[[str], Path], source: str, release: str
) -> None:
    deployed(dep(source, release))
    code, cells = check(cli)
    assert code == 0, failing(cells)
    r = cli("trust", "check")
    assert r.code == 0
    assert "all pass" in r.out
    assert ok(cli("trust", "plan")).out.startswith("no trust-store change")


def test_self_signed_480_mutual_channels_green_clients_only_apple(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    """4.8.0's five-year temporary certificates: every appliance-to-appliance channel passes
    once ``apply`` filled the trust stores; only the client channels fail (point 9), the
    agent's too: the agent on a Mac refuses them as macOS does (825 days, audit item 3)."""
    deployed(dep("self-signed", "4.8.0"))
    code, cells = check(cli)
    assert code == 1
    for (_, channel), c in cells.items():
        if channel in ("cam-cas", "ha-heartbeat"):
            assert c["status"] in ("pass", "n/a"), c
    assert failing(cells) == {
        (a, ch)
        for a in APPLIANCES
        for ch in ("agent", "web-login", "admin-gui")
        if not (a.startswith("cam") and ch in ("agent", "web-login"))
    }
    for a in APPLIANCES[2:]:
        (why,) = cells[(a, "agent")]["findings"]
        assert why.startswith("agent-macos refuses it: [validity-too-long] Clean Access Agent on "
                              "macOS 10.15+: "), why  # fmt: skip


def test_third_party_imported_all_green(cli: CliRunner, third_party: None) -> None:
    code, cells = check(cli)
    assert code == 0, failing(cells)
    assert "third-party CA" in cells[("cam-a", "cam-cas")]["case"]
    assert cells[("cas-tp", "cam-cas")]["status"] == "pass"


def test_trust_list_add_remove(
    cli: CliRunner, deployed: Callable[[str], Path], outside: OutsideCA, tmp_path: Path
) -> None:
    deployed(dep())
    before = trust_fps(cli, "cas-one")
    assert list(before) == ["CN=Workflow Org Clean Access Root CA,O=Workflow Org"]
    text = ok(cli("trust", "list", "cas-one")).out
    assert "Workflow Org Clean Access Root CA" in text
    root_file = write(tmp_path / "outside-root.pem", pem(outside.root))
    r = ok(cli("trust", "add", "cas-one", root_file))
    assert "added: Outside Trust Root on cas-one" in r.out
    r = ok(cli("trust", "add", "cas-one", root_file))
    assert "already trusted: Outside Trust Root on cas-one" in r.out
    after = trust_fps(cli, "cas-one")
    assert after[outside.root.subject.rfc4514_string()] == sha256(outside.root)
    assert len(after) == 2
    ok(cli("trust", "remove", "cas-one", sha256(outside.root)[:12]))
    assert trust_fps(cli, "cas-one") == before
    # bad input: exit 2 with a hint, nothing changed
    r = cli("trust", "remove", "cas-one", "00ff00ff")
    assert r.code == 2
    assert "hint: see `ccapki trust list cas-one`" in r.err
    r = cli("trust", "list", "cas-nowhere")
    assert r.code == 2
    assert "no appliance named 'cas-nowhere'" in r.err
    assert trust_fps(cli, "cas-one") == before


def test_trust_check_json_shape(cli: CliRunner, deployed: Callable[[str], Path]) -> None:
    deployed(dep())
    js = ok(cli("trust", "check", "--json")).json()
    assert set(js) >= {"ok", "verifications", "cells", "dn_authorization"}
    assert js["ok"] is True
    assert js["verifications"] > 0
    seen = [(c["appliance"], c["channel"]) for c in js["cells"]]
    assert sorted(seen) == sorted(
        (a, ch)
        for a in APPLIANCES
        for ch in CHANNELS
        if not (a.startswith("cam") and ch in ("agent", "web-login"))
    )
    for c in js["cells"]:
        assert set(c) >= {"appliance", "channel", "status", "findings", "case"}
        assert c["status"] in ("pass", "fail", "n/a")
        assert isinstance(c["findings"], list)
    assert {c["case"] for c in js["cells"] if c["channel"] == "cam-cas"} == {"internal PKI"}
    assert js["dn_authorization"] == []  # before 4.9


# ---------------------------------------------------------------------------- 7. four cases


CASES = {
    # case name: (source, release, appliance to break, subject of the anchor it loses,
    #             the GUI-worded fix trust plan must print)
    "internal PKI": (
        "internal",
        "4.8.0",
        "cas-one",
        "Clean Access Root CA",
        "add root CA Workflow Org Clean Access Root CA to CAS cas-one: "
        "SSL > Trusted Certificate Authorities",
    ),
    "perfigo root": (
        "perfigo",
        "4.8.0",
        "cam-a",
        "Perfigo Root CA",
        "to CAM cam-a: CCA Manager > SSL > Trusted Certificate Authorities",
    ),
    "true self-signed": (
        "self-signed",
        "4.7.2",
        "cas-one",
        "CN=cam.example.org",
        "add the CAM cam's certificate (true self-signed) to CAS cas-one: "
        "SSL > Trusted Certificate Authorities",
    ),
}


def _break_and_repair(
    cli: CliRunner, case: str, appliance: str, subject: str, fix: str, peer: str
) -> None:
    before = all_trust(cli, all_trust_names(cli))
    remove_anchor(cli, appliance, subject)
    code, cells = check(cli)
    assert code == 1
    cell = cells[(appliance, "cam-cas")]
    assert cell["status"] == "fail"
    assert case in cell["case"]
    assert any(f.startswith(f"{appliance} -> {peer}") for f in cell["findings"]), cell
    text = cli("trust", "check")
    assert text.code == 1
    assert f"FAIL {appliance} cam-cas:" in text.out
    assert f"the FAQ's case ({cell['case']}) requires:" in text.out
    plan = ok(cli("trust", "plan"))
    assert fix in plan.out, plan.out
    assert next(ln for ln in plan.out.splitlines() if ln.strip()).endswith(
        "Trusted Certificate Authorities"
    )
    applied = ok(cli("trust", "apply"))
    assert fix in applied.out
    code, cells = check(cli)
    assert code == 0, failing(cells)
    assert ok(cli("trust", "check")).code == 0
    assert all_trust(cli, all_trust_names(cli)) == before


def all_trust_names(cli: CliRunner) -> tuple[str, ...]:
    plan = ok(cli("plan", "--json")).json()
    return tuple(a for i in plan["identities"] for a in i["installed_on"])


@pytest.mark.parametrize("case", list(CASES))
def test_faq_case_broken_and_repaired(
    cli: CliRunner, deployed: Callable[[str], Path], case: str
) -> None:
    source, release, appliance, subject, fix = CASES[case]
    deployed(dep(source, release))
    peer = "cas-ha-a" if appliance.startswith("cam") else "cam-a"
    _break_and_repair(cli, case, appliance, subject, fix, peer)


def test_faq_case_third_party_broken_and_repaired(cli: CliRunner, third_party: None) -> None:
    _break_and_repair(
        cli,
        "third-party CA",
        "cam-a",
        "Outside Trust Root",
        "add root CA Outside Trust Root to CAM cam-a: "
        "CCA Manager > SSL > Trusted Certificate Authorities",
        "cas-tp",
    )


def test_findings_name_the_appliance_they_are_about(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    """Two appliances left with the same (empty) trust store share one verdict, but each
    finding names the appliance that refuses, not the first one checked."""
    deployed(dep())
    for a in ("cas-ha-a", "cas-one"):
        remove_anchor(cli, a, "Clean Access Root CA")
    _, cells = check(cli)
    assert cells[("cas-ha-b", "cam-cas")]["status"] == "pass"
    for a in ("cas-ha-a", "cas-one"):
        findings = cells[(a, "cam-cas")]["findings"]
        assert any(f.startswith(f"{a} -> cam-a: ") for f in findings), findings
        assert any(f.startswith(f"{a} <- cam-b (client cert): ") for f in findings), findings
        assert all(f.startswith(f"{a} ") for f in findings), (a, findings)


# ------------------------------------------------------------------ 8. HA, expiry, releases


def test_ha_heartbeat_broken_when_a_peer_lacks_the_pair_anchor(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(dep("self-signed", "4.7.2"))
    remove_anchor(cli, "cas-ha-b", "CN=cas-ha.example.org")
    code, cells = check(cli)
    assert code == 1
    # the heartbeat is one tunnel: both peers' cells fail, naming the peer that refuses
    assert failing(cells) == {("cas-ha-a", "ha-heartbeat"), ("cas-ha-b", "ha-heartbeat")}
    for a in ("cas-ha-a", "cas-ha-b"):
        hb = cells[(a, "ha-heartbeat")]["findings"]
        assert any("HA broken" in f and "both peers would go active" in f for f in hb)
        refusing = [f for f in hb if not f.startswith("HA broken")]
        assert refusing
        assert all(f.startswith("cas-ha-b ") for f in refusing), refusing
    plan = ok(cli("trust", "plan")).out
    assert (
        "add the CAS cas-ha's certificate (true self-signed) to CAS cas-ha-b: "
        "SSL > Trusted Certificate Authorities"
    ) in plan
    ok(cli("trust", "apply"))
    assert check(cli)[0] == 0


def test_expired_identities_fail_every_channel(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(dep())
    later = NOW + dt.timedelta(days=400)  # identities: 397 days; the CAs: years
    code, cells = check(cli, now=later)
    assert code == 1
    applicable = {k: c for k, c in cells.items() if c["status"] != "n/a"}
    assert applicable
    for key, c in applicable.items():
        assert c["status"] == "fail", key
        assert any("expired" in f for f in c["findings"]), (key, c["findings"])


def test_release_49_prints_the_dn_authorization_list(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    deployed(dep("internal", "4.9.1"))
    with open_store(home) as store:
        dns = {
            n: i.certificate.subject.rfc4514_string() for n, i in store.identities.current().items()
        }
    r = ok(cli("trust", "check"))
    assert "4.9 CAM-CAS authorization: the CAM must allow these CAS DNs:" in r.out
    assert f"cas-ha-a: {dns['cas-ha']}" in r.out  # an HA pair: the primary's DN
    assert f"cas-one: {dns['cas-one']}" in r.out
    assert "cas-ha-b:" not in r.out
    js = ok(cli("trust", "check", "--json")).json()
    assert js["dn_authorization"] == [
        {"cas": "cas-ha-a", "dn": dns["cas-ha"]},
        {"cas": "cas-one", "dn": dns["cas-one"]},
    ]
    plan = ok(cli("trust", "plan")).out
    assert f"allow CAS cas-ha-a by DN on the CAM (4.9 authorization): {dns['cas-ha']}" in plan


def test_release_before_45_has_no_cam_cas_verification(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(dep("internal", "4.1.0"))
    code, cells = check(cli)
    assert code == 0
    for a in APPLIANCES:
        assert cells[(a, "cam-cas")]["status"] == "n/a"
        assert cells[(a, "ha-heartbeat")]["status"] == "n/a"
    # apply puts nothing a standalone CAS would need for the CAM there, and nothing fails
    assert trust_fps(cli, "cas-one") == {}
    assert "all pass" in ok(cli("trust", "check")).out


# ---------------------------------------------------------------------------- 9. clients


def test_480_five_year_self_signed_refused_by_apple(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(dep("self-signed", "4.8.0"))
    _, cells = check(cli)
    for key in [("cas-one", "web-login"), ("cas-ha-a", "web-login"), ("cam-a", "admin-gui")]:
        findings = cells[key]["findings"]
        joined = "\n".join(findings)
        assert "macos refuses it" in joined
        assert "ios refuses it" in joined
        assert "825 days" in joined
        # refused outright by Apple platforms only; the others accept it once installed
        refusing = {f.split(" refuses it")[0] for f in findings if " refuses it" in f}
        assert refusing == {"macos", "ios"}, findings
    # the agent on a Mac refuses it as macOS does; on Windows it is accepted (audit, item 3)
    agent = cells[("cas-one", "agent")]
    assert agent["status"] == "fail", agent
    assert {f.split(" refuses it")[0] for f in agent["findings"]} == {"agent-macos"}, agent
    text = cli("trust", "check")
    assert "FAIL cas-one web-login:" in text.out


def test_clients_mozilla_installed_and_file(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path, outside: OutsideCA
) -> None:
    deployed(dep())
    client = {(a, ch) for a in ("cas-ha-a", "cas-ha-b", "cas-one") for ch in ("agent", "web-login")}
    code, cells = check(cli, "--clients", "mozilla")
    assert code == 1
    assert client <= failing(cells)
    assert ("cam-a", "admin-gui") in failing(cells)
    assert not {k for k in failing(cells) if k[1] in ("cam-cas", "ha-heartbeat")}
    assert any("untrusted-root" in f for f in cells[("cas-one", "agent")]["findings"])

    code, cells = check(cli, "--clients", "installed")
    assert code == 0, failing(cells)

    ok(cli("export-roots", "--out", tmp_path / "roots"))
    code, cells = check(cli, "--clients", tmp_path / "roots" / "ccapki-roots.pem")
    assert code == 0, failing(cells)
    wrong = write(tmp_path / "other.pem", pem(outside.root))
    code, cells = check(cli, "--clients", wrong)
    assert code == 1
    assert client <= failing(cells)
    r = cli("trust", "check", "--clients", tmp_path / "missing.pem")
    assert r.code == 2
    assert "missing.pem" in r.err


# ---------------------------------------------------------------------------- 10. rotation


def _state(cli: CliRunner, home: Path) -> tuple[str, str, str, int]:
    with open_store(home) as store:
        versions = {n: (i.version, i.fingerprint) for n, i in store.identities.current().items()}
        cas = [c.fingerprint for c in store.cas.list()]
        hist = store.count("certificates")
    keys = json.dumps(ok(cli("keys", "list", "--json")).json(), sort_keys=True)
    trust = json.dumps(all_trust(cli), sort_keys=True)
    return trust, json.dumps([versions, cas], sort_keys=True), keys, hist


def test_rotation_what_if_changes_nothing(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    deployed(dep())
    before = _state(cli, home)
    r = ok(cli("trust", "plan", "--rotate", "cam", "--to-source", "self-signed"))
    out = r.out
    assert "if cam switched to a self-signed certificate now:" in out
    for cas in ("cas-ha-a", "cas-ha-b", "cas-one"):
        assert f"breaks: {cas} cam-cas: {cas} -> cam-a: [untrusted-self-signed]" in out, out
    # the CAM pair's own heartbeat too: its peers do not trust the new certificate yet
    assert "breaks: cam-b ha-heartbeat: cam-" in out
    assert "untrusted-self-signed" in out
    lines = [ln.strip() for ln in out.splitlines()]
    steps = lines[lines.index("safe order:") + 1 :]
    orders = [int(s.split(".")[0]) for s in steps if s]
    assert orders == sorted(orders)
    assert set(orders) == {1, 2, 3}
    ones = [s for s in steps if s.startswith("1.")]
    for cas in ("cas-ha-a", "cas-ha-b", "cas-one"):
        assert any(
            f"add the CAM cam's certificate (true self-signed) to CAS {cas}: "
            "SSL > Trusted Certificate Authorities" in s
            for s in ones
        ), ones
    # step 1 in the deployment's order (stable from run to run), CAM peers first
    targets = [s.split(" to ")[-1].split(":")[0] for s in ones]
    assert targets == [
        "CAM cam-a",
        "CAM cam-b",
        "CAS cas-ha-a",
        "CAS cas-ha-b",
        "CAS cas-one",
    ], ones
    two = [s for s in steps if s.startswith("2.")]
    assert len(two) == 1
    assert "on cam-a and cam-b at once" in two[0]
    three = [s for s in steps if s.startswith("3.")]
    assert three
    assert all("retire the old issuer: remove" in s for s in three)
    # cas-one needed the internal root only for the CAM; the HA pairs keep it for themselves
    assert any(
        "root CA Workflow Org Clean Access Root CA" in s and "CAS cas-one" in s for s in three
    )
    assert not any("cas-ha-a" in s or "CAM cam-a" in s for s in three), three
    js = ok(cli("trust", "plan", "--rotate", "cam", "--to-source", "self-signed", "--json")).json()
    assert [s["order"] for s in js["steps"]] == orders
    broken = {tuple(b.split(":")[0].split()) for b in js["breaks"]}
    assert broken == {
        *((a, "cam-cas") for a in APPLIANCES),
        ("cam-a", "ha-heartbeat"),
        ("cam-b", "ha-heartbeat"),
    }
    assert _state(cli, home) == before


def test_rotation_to_a_new_ca_kind_mints_nothing(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """The what-if mints a Perfigo root to sign the would-be certificate, then rolls back."""
    deployed(dep())
    before = _state(cli, home)
    r = ok(cli("trust", "plan", "--rotate", "cas-one", "--to-source", "perfigo"))
    assert "breaks: cam-a cam-cas" in r.out
    assert "Perfigo Root CA" in r.out
    assert "2. swap cas-one's identity" in r.out
    assert _state(cli, home) == before
    r = cli("trust", "plan", "--rotate", "cas-one", "--to-source", "third-party")
    assert r.code == 2
    assert "csr" in r.err
