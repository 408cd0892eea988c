"""``ccapki lab up|status|down`` and ``verify --live`` on a healthy deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.lab.daemon import read_state
from kit.cli import Cli, error_with_hint, ok
from kit.lab import CAM, CAS_HA, SOLO, LabFactory, appliances, assert_all_pass

#: what each appliance of the test deployment listens on (DESIGN.md's channels)
EXPECTED_KINDS = {
    **{a: {"control", "gui", "heartbeat"} for a in CAM},
    **{a: {"control", "agent", "web-login", "gui", "heartbeat"} for a in CAS_HA},
    SOLO: {"control", "agent", "web-login", "gui"},
}


def test_up_status_verify_down(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    status = lab.status(cli)
    kinds: dict[str, set[str]] = {}
    for e in status["endpoints"]:
        assert e["host"] == "127.0.0.1"
        kinds.setdefault(e["appliance"], set()).add(e["kind"])
    assert kinds == EXPECTED_KINDS
    assert len({(e["host"], e["port"]) for e in status["endpoints"]}) == len(status["endpoints"])
    links = {x["name"]: x for x in status["links"]}
    # every CAS <-> the active CAM both ways, and each pair's heartbeat
    cas = [*CAS_HA, SOLO]
    assert set(links) == {
        *(f"status:{c}->cam-a" for c in cas),
        *(f"control:cam-a->{c}" for c in cas),
        "heartbeat:cam-b->cam-a",
        "heartbeat:cas-ha-b->cas-ha-a",
    }
    assert all(x["ok"] is True for x in links.values()), links
    assert {p["pair"]: p["state"] for p in status["pairs"]} == {"cam": "HA up", "cas-ha": "HA up"}
    assert all(a["state"] == "Connected" for a in status["appliances"] if a["role"] == "cas")

    code, doc = lab.verify(cli)
    assert_all_pass(code, doc)
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    assert {a for a, _ in cells} == set(appliances())
    # every channel an appliance serves was proven by a handshake
    for a, ks in EXPECTED_KINDS.items():
        for kind, channel in (("agent", "agent"), ("web-login", "web-login"), ("gui", "admin-gui")):
            if kind in ks:
                assert cells[(a, channel)]["live"] == "pass"
        if "heartbeat" in ks:
            assert cells[(a, "ha-heartbeat")]["live"] == "pass"
    assert cells[("cam-a", "cam-cas")]["live"] == "pass"
    assert all(cells[(c, "cam-cas")]["live"] == "pass" for c in cas)
    assert doc["probes"] >= len(links) + sum(
        len(ks & {"agent", "web-login", "gui"}) for ks in EXPECTED_KINDS.values()
    )

    text = ok(cli("verify", "--live", home_dir=lab.home))
    assert "agree in every cell" in text.out

    down = ok(cli("lab", "down", home_dir=lab.home))
    assert "lab stopped" in down.out
    state = read_state(lab.state_dir)
    assert state is not None
    assert not state.alive
    after = error_with_hint(cli("lab", "status", home_dir=lab.home))
    assert "no lab runs" in after.err
    assert "ccapki lab up" in after.err
    error_with_hint(cli("verify", "--live", home_dir=lab.home))
    assert "no lab was running" in ok(cli("lab", "down", home_dir=lab.home)).out


def test_lab_up_twice_is_refused(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    pid = read_state(lab.state_dir).pid  # type: ignore[union-attr]
    second = error_with_hint(cli("lab", "up", "--interval", "1", home_dir=lab.home))
    assert "already runs" in second.err
    assert "lab down" in second.err
    state = read_state(lab.state_dir)
    assert state is not None
    assert state.alive
    assert state.pid == pid


def test_passphrase_store(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab(passphrase="right horse", up=False)
    wrong = error_with_hint(
        cli(
            "lab",
            "up",
            "--interval",
            "1",
            env={"CCAPKI_PASSPHRASE": "wrong horse"},
            home_dir=lab.home,
        )
    )
    assert "passphrase" in wrong.err.lower()
    # nothing started: no pid file, no state
    assert read_state(lab.state_dir) is None
    assert not (lab.state_dir / "lab.pid").exists()

    ok(cli("lab", "up", "--interval", "1", env=lab.env, home_dir=lab.home))
    state = read_state(lab.state_dir)
    assert state is not None
    assert state.alive
    assert state.status is not None
    code, doc = lab.verify(cli)
    assert_all_pass(code, doc)
    # the reload reads the store again inside the daemon, with the passphrase it was given
    reload = ok(cli("lab", "reload", env=lab.env, home_dir=lab.home))
    assert "lab reloaded (1 reload so far)" in reload.out
    assert read_state(lab.state_dir).last_error is None  # type: ignore[union-attr]


@pytest.mark.parametrize("case", ["no-store", "no-deployment"])
def test_lab_up_without_what_it_needs(cli: Cli, tmp_path: Path, case: str) -> None:
    home = tmp_path / "empty"
    if case == "no-deployment":
        ok(cli("init", "--key-file", home_dir=home))
    r = error_with_hint(cli("lab", "up", "--interval", "1", home_dir=home))
    if case == "no-deployment":
        assert "no deployment" in r.err
        assert "ccapki apply" in r.err
    assert read_state(home / "lab") is None
