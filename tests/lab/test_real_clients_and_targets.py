"""Real clients against the CLI-started lab, ``verify --live --target deployment``, and the
demo."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from ccapki.lab.daemon import read_state, stop_background
from kit.certs import OutsideCA, pem, utcnow
from kit.cli import Cli, ok
from kit.lab import LabFactory, assert_all_pass, deployment_toml, lab_endpoints
from kit.tools import openssl


def _endpoint(status: dict[str, Any], appliance: str, kind: str) -> dict[str, Any]:
    (e,) = (x for x in status["endpoints"] if x["appliance"] == appliance and x["kind"] == kind)
    return e


@pytest.mark.integration
def test_openssl_s_client_on_web_login_with_the_exported_root(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    roots = tmp_path / "roots"
    ok(cli("export-roots", "--out", roots, home_dir=lab.home))
    root_pem = roots / "ccapki-roots.pem"
    other = tmp_path / "other-root.pem"
    other.write_bytes(pem(OutsideCA.make("Unrelated Root", now=utcnow(), intermediate=False).root))
    web = _endpoint(lab.status(cli), "cas-solo", "web-login")
    base = [
        "s_client",
        "-connect",
        f"127.0.0.1:{web['port']}",
        "-servername",
        web["server_name"],
        "-verify_hostname",
        web["server_name"],
        "-verify_return_error",
    ]
    good = openssl(*base, "-CAfile", str(root_pem))
    assert good.returncode == 0, good.stderr
    assert "Verify return code: 0 (ok)" in good.stdout
    bad = openssl(*base, "-CAfile", str(other))
    assert bad.returncode != 0, bad.stdout
    # the CAS sends its whole chain, root included: without the root installed, openssl
    # meets a self-signed certificate it does not trust
    assert "certificate verify failed" in bad.stderr
    assert "Verify return code: 0 (ok)" not in bad.stdout


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_verify_target_deployment_probes_the_given_endpoints(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    eps = lab_endpoints(lab.status(cli))
    real = tmp_path / "real.toml"
    real.write_text(deployment_toml(endpoints=eps), encoding="utf-8")
    applied = ok(cli("apply", real, home_dir=lab.home))
    assert "nothing to do" in applied.out  # endpoints change no certificate

    code, doc = lab.verify(cli, "--target", "deployment")
    assert_all_pass(code, doc)
    # auto picks the deployment's endpoints since it names some
    code, auto = lab.verify(cli)
    assert_all_pass(code, auto)
    assert auto["probes"] == doc["probes"]

    # the probes go where the file says: with the lab stopped, every one is refused
    # (the lab's own state is not consulted), nothing is held against the offline verdicts
    ok(cli("lab", "down", home_dir=lab.home))
    code, gone = lab.verify(cli, "--target", "deployment")
    assert code == 1
    assert gone["agree"] is True
    assert {c["live"] for c in gone["cells"]} <= {"fail", "n/a"}
    assert all("connection refused" in e for c in gone["cells"] for e in c["live_errors"]), gone


def test_verify_target_deployment_unreachable_endpoint(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    eps = lab_endpoints(lab.status(cli))
    eps["cas-solo"]["web-login"] = f"127.0.0.1:{_closed_port()}"
    real = tmp_path / "real.toml"
    real.write_text(deployment_toml(endpoints=eps), encoding="utf-8")
    ok(cli("apply", real, home_dir=lab.home))

    code, doc = lab.verify(cli, "--target", "deployment")
    assert code == 1  # a finding, not a disagreement (3) and not a crash
    (cell,) = (c for c in doc["cells"] if c["live"] == "fail")
    assert (cell["appliance"], cell["channel"]) == ("cas-solo", "web-login")
    assert cell["offline"] == "pass"
    assert cell["compared"] is False
    assert cell["agree"] is True
    assert any("connection refused" in e for e in cell["live_errors"])
    text = cli("verify", "--live", "--target", "deployment", home_dir=lab.home)
    assert text.code == 1
    assert "connection refused" in text.out
    assert "ccapki bug" not in text.both


def test_demo_runs_the_lab(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        r = cli("demo", "--keep", home_dir=tmp_path / "unused")
        assert r.code == 0, r.both
        assert "agree in every cell" in r.out
        assert "demo finished" in r.out
        assert "lab stopped" in r.out
    finally:
        for state_dir in tmp_path.glob("ccapki-demo-*/store/lab"):
            stop_background(state_dir, timeout=5.0)
            state = read_state(state_dir)
            assert state is None or not state.alive
