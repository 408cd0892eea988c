"""Issue 8, item 8: ``verify --live --target deployment`` when the deployment file gives
endpoints for only some appliances, and endpoints checked when the file is loaded.

A cell whose links are only partly probed (an end without an endpoint) is "not probed": it
is never held against the offline verdict (no "(!)", no "ccapki bug", no exit 3). A bad
endpoint is a deployment-file error naming its line, never a crash at probe time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import Cli, error_with_hint, ok
from kit.lab import SOLO, Endpoints, LabFactory, deployment_toml, lab_endpoints


def test_partial_endpoints_never_compare_partly_probed_cells(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    # real endpoints for the standalone CAS only: cam-a's links to cas-solo can be probed,
    # its links to cas-ha-a (and cas-ha-a's to it) cannot
    eps = lab_endpoints(lab.status(cli), {SOLO})
    real = tmp_path / "partial.toml"
    real.write_text(deployment_toml(endpoints=eps), encoding="utf-8")
    ok(cli("apply", real, home_dir=lab.home))
    # break cas-ha-a's trust store: offline, every CAM/CAS cell touching cas-ha-a fails,
    # cam-a's among them (one of its links is to cas-ha-a)
    fp = ok(cli("trust", "list", "cas-ha-a", home_dir=lab.home)).out.split()[0]
    ok(cli("trust", "remove", "cas-ha-a", fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))

    code, doc = lab.verify(cli, "--target", "deployment")
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    assert cells[("cam-a", "cam-cas")]["offline"] == "fail"
    for key in (("cam-a", "cam-cas"), ("cam-b", "cam-cas"), (SOLO, "cam-cas")):
        # a probed link passed, another was not probed: the cell is not probed
        assert cells[key]["live"] == "not probed", cells[key]
        assert cells[key]["compared"] is False
        assert cells[key]["agree"] is True
    # cells with no endpoint at all are not probed either (not "n/a": offline has a verdict)
    assert cells[("cas-ha-a", "cam-cas")]["live"] == "not probed"
    assert cells[("cam-a", "admin-gui")]["live"] == "not probed"
    # the standalone CAS's own endpoints were all probed
    for ch in ("agent", "web-login", "admin-gui"):
        assert cells[(SOLO, ch)]["live"] == "pass"
        assert cells[(SOLO, ch)]["compared"] is True
    assert doc["agree"] is True
    assert all(c["agree"] for c in doc["cells"]), doc
    assert code == 0, doc  # every probed cell passes; nothing disagrees
    missing = {(m["appliance"], m["kind"]) for m in doc["unprobed_endpoints"]}
    assert ("cam-a", "control") in missing
    assert ("cas-ha-a", "heartbeat") in missing
    assert not any(a == SOLO for a, _ in missing)

    text = cli("verify", "--live", "--target", "deployment", home_dir=lab.home)
    assert text.code == 0, text.both
    assert "ccapki bug" not in text.both
    assert "(!)" not in text.out
    assert "not probed" in text.out
    assert "no endpoint in the deployment file" in text.out

    # a probed link that fails inside a cell that is not probed: still a finding (exit 1),
    # reported, never compared
    fp = ok(cli("trust", "list", SOLO, home_dir=lab.home)).out.split()[0]
    ok(cli("trust", "remove", SOLO, fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))
    code, doc = lab.verify(cli, "--target", "deployment")
    cell = next(c for c in doc["cells"] if (c["appliance"], c["channel"]) == (SOLO, "cam-cas"))
    assert cell["live"] == "not probed"
    assert cell["live_errors"], cell
    assert cell["agree"] is True
    assert doc["agree"] is True
    assert doc["ok"] is False
    assert code == 1
    text = cli("verify", "--live", "--target", "deployment", home_dir=lab.home)
    assert text.code == 1
    assert "ccapki bug" not in text.both
    assert "(a link FAILs)" in text.out


# ---------------------------------------------------------------------------- loading


BAD: list[tuple[str, Endpoints, str, str]] = [
    # (id, endpoints, the appliance whose line is named, words in the error)
    ("ipv6-without-brackets", {SOLO: {"control": "::1:8443"}}, SOLO, "brackets"),
    ("ipv6-not-an-address", {SOLO: {"control": "[cas-solo]:8443"}}, SOLO, "not an IPv6"),
    ("port-zero", {SOLO: {"gui": "127.0.0.1:0"}}, SOLO, "port"),
    ("port-too-big", {"cas-ha-b": {"gui": "[::1]:65536"}}, "cas-ha-b", "port"),
    ("port-missing", {SOLO: {"gui": "127.0.0.1"}}, SOLO, "host:port"),
    ("port-not-ascii", {SOLO: {"gui": "127.0.0.1:\u0664\u0664\u0663"}}, SOLO, "port"),
    ("port-signed", {SOLO: {"gui": "127.0.0.1:+443"}}, SOLO, "port"),
    ("bad-host", {SOLO: {"gui": "bad host:443"}}, SOLO, "not a valid host"),
    ("empty-host", {SOLO: {"gui": ":443"}}, SOLO, "host:port"),
    ("unknown-channel", {SOLO: {"cotnrol": "127.0.0.1:8443"}}, SOLO, "unknown endpoint"),
    ("agent-on-a-cam", {"cam-a": {"agent": "127.0.0.1:8443"}}, "cam-a", "CAM"),
    ("heartbeat-standalone", {SOLO: {"heartbeat": "127.0.0.1:8443"}}, SOLO, "HA pair"),
]


def _line_naming(text: str, appliance: str) -> int:
    """The line holding ``appliance``'s endpoints (inline for peers, a key for a standalone)."""
    lines = text.splitlines()
    for no, line in enumerate(lines, start=1):
        if f'name = "{appliance}"' in line and "endpoints" in line:
            return no
    start = next(i for i, line in enumerate(lines) if line == f'name = "{appliance}"')
    return next(i for i in range(start, len(lines)) if lines[i].startswith("endpoints")) + 1


@pytest.mark.parametrize(
    ("endpoints", "appliance", "words"), [pytest.param(e, a, w, id=i) for i, e, a, w in BAD]
)
def test_bad_endpoint_is_a_deployment_error_with_its_line(
    cli: Cli, tmp_path: Path, endpoints: Endpoints, appliance: str, words: str
) -> None:
    text = deployment_toml(endpoints=endpoints)
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    r = error_with_hint(cli("plan", path, home_dir=tmp_path / "home"))
    first = r.err.splitlines()[0]
    assert first.startswith(f"error: {path}:{_line_naming(text, appliance)}: "), r.err
    assert words in first, r.err
    assert r.out == ""


def test_endpoint_in_a_sub_table_names_its_own_line(cli: Cli, tmp_path: Path) -> None:
    text = deployment_toml() + '\n[cas.endpoints]\ncontrol = "127.0.0.1:8443"\ngui = "h:99999"\n'
    path = tmp_path / "sub.toml"
    path.write_text(text, encoding="utf-8")
    r = error_with_hint(cli("plan", path, home_dir=tmp_path / "home"))
    line = text.splitlines().index('gui = "h:99999"') + 1
    assert r.err.startswith(f"error: {path}:{line}: "), r.err


def test_good_endpoints_load(cli: Cli, tmp_path: Path) -> None:
    eps: Endpoints = {
        SOLO: {"control": "[::1]:8443", "gui": "cas-solo.lab.test:443", "agent": "10.2.0.10:8905"},
        "cas-ha-a": {"heartbeat": "[fe80::1%eth0]:1", "web-login": "127.0.0.1:65535"},
        "cam-b": {"control": "cam-b.lab.test.:443"},
    }
    path = tmp_path / "good.toml"
    path.write_text(deployment_toml(endpoints=eps), encoding="utf-8")
    ok(cli("plan", path, home_dir=tmp_path / "home"))


def test_endpoints_at_the_pair_level_are_refused(cli: Cli, tmp_path: Path) -> None:
    """An HA pair's endpoints belong to each peer: at the pair level they were ignored."""
    line = 'endpoints = { control = "127.0.0.1:8443" }'
    text = deployment_toml().replace(
        'service_ip = "10.1.0.10"\n', f'service_ip = "10.1.0.10"\n{line}\n'
    )
    path = tmp_path / "pair.toml"
    path.write_text(text, encoding="utf-8")
    r = error_with_hint(cli("plan", path, home_dir=tmp_path / "home"))
    assert r.err.startswith(f"error: {path}:{text.splitlines().index(line) + 1}: "), r.err
    assert "pair level" in r.err
