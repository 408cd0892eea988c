"""A certificate on secp256k1 was flagged nowhere: ``import`` printed no warning for the
curve (RSA-1024 gets "agents and browsers will refuse it"), ``trust check --json`` had no
finding for it and the agent cell (Windows) passed. Browsers, Windows SChannel and Java take
ECDSA on P-256, P-384 and P-521 only: import warns, and trust check fails the cells whose
clients refuse it, with a fix naming a supported curve. The certificates are minted here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kit.certs import CLIENT_AUTH, NOW, SERVER_AUTH, key_pem, mint, pem
from kit.cli import FAQ, Cli, ok, write

#: cas-annex in examples/faq.toml: a standalone CAS with two IP addresses
NAMES = ["cas-annex.example.edu", "10.31.0.10", "10.31.1.10"]


def _cells(doc: dict[str, Any], appliance: str) -> dict[str, dict[str, Any]]:
    return {c["channel"]: c for c in doc["cells"] if c["appliance"] == appliance}


def _import_own(cli: Cli, tmp_path: Path, curve: ec.EllipticCurve) -> str:
    """cas-annex's own self-signed certificate on ``curve`` (CA:TRUE, as ``openssl req
    -x509`` makes one; serverAuth and clientAuth, so that only the key can fail it),
    imported with its key over the one ccapki issued; the output."""
    ok(cli("apply", FAQ))
    own = mint(
        NAMES[0],
        key=ec.generate_private_key(curve),
        ca=True,
        key_cert_sign=False,
        san=NAMES,
        eku=(SERVER_AUTH, CLIENT_AUTH),
        days=30,
        now=NOW,
    )
    crt = write(tmp_path / "k.crt", pem(own.cert))
    key = write(tmp_path / "k.key", key_pem(own.key))
    r = ok(cli("import", crt, "--key", key, "--force"))
    ok(cli("trust", "apply"))
    return r.both


def test_import_warns_and_trust_check_fails_a_secp256k1_identity(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    out = _import_own(cli, tmp_path, ec.SECP256K1())
    assert (
        "warning: agents and browsers will refuse it: cas-annex.example.edu has an ECDSA key "
        "on curve secp256k1; only P-256, P-384 and P-521 are accepted" in out
    ), out

    r = cli("trust", "check", "--json")
    assert r.code == 1, r.both
    cells = _cells(r.json(), "cas-annex")
    for channel in ("agent", "web-login", "admin-gui", "cam-cas"):
        assert cells[channel]["status"] == "fail", (channel, cells[channel])
        curve = [f for f in cells[channel]["findings"] if "[unsupported-algorithm]" in f]
        assert curve, (channel, cells[channel]["findings"])
        assert all("secp256k1" in f and 'key = "ecdsa-p256"' in f for f in curve), curve
    agent = cells["agent"]["findings"]
    # the Windows stack the agent verifies through, and the agent's own platform policy
    assert any(
        f.startswith("client -> cas-annex.example.edu: [unsupported-algorithm] Windows")
        for f in agent
    ), agent
    assert any(f.startswith("agent refuses it: [unsupported-algorithm]") for f in agent), agent
    web = cells["web-login"]["findings"]
    assert any("[unsupported-algorithm] Chromium" in f for f in web), web
    for platform in ("chrome", "firefox", "windows", "macos", "ios"):
        assert any(f.startswith(f"{platform} refuses it: [unsupported-algorithm]") for f in web)
    assert any("Java PKIX" in f for f in cells["cam-cas"]["findings"])


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()], ids=lambda c: c.name)
def test_a_nist_curve_gets_no_curve_warning_nor_finding(
    cli: Cli, keyfile_store: Path, tmp_path: Path, curve: ec.EllipticCurve
) -> None:
    out = _import_own(cli, tmp_path, curve)
    assert "ECDSA key on curve" not in out, out
    r = cli("trust", "check", "--json")
    cells = _cells(r.json(), "cas-annex")
    assert not [
        f for c in cells.values() for f in c["findings"] if "[unsupported-algorithm]" in f
    ], cells
    # (a warning remains: web-PKI refuses a CA:TRUE identity, which Windows accepts)
    assert (cells["agent"]["status"], cells["agent"]["findings"]) == ("warn", []), cells["agent"]


def test_an_issuing_ca_on_secp256k1_fails_every_client_cell(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """A chain certificate, not only the leaf: cas-annex on a P-256 key, signed by a root
    on secp256k1 (imported with its chain): every cell names the root and a supported
    curve."""
    ok(cli("apply", FAQ))
    root = mint("K1 Root", key=ec.generate_private_key(ec.SECP256K1()), ca=True, now=NOW)
    leaf = mint(NAMES[0], issuer=root, san=NAMES, days=90, now=NOW)
    bundle = write(tmp_path / "a.pem", pem(leaf.cert) + pem(root.cert))
    ok(cli("import", bundle, "--key", write(tmp_path / "a.key", key_pem(leaf.key)), "--force"))
    ok(cli("trust", "apply"))
    r = cli("trust", "check", "--json")
    assert r.code == 1, r.both
    cells = _cells(r.json(), "cas-annex")
    for channel in ("agent", "web-login", "admin-gui", "cam-cas"):
        assert cells[channel]["status"] == "fail", (channel, cells[channel])
        curve = [f for f in cells[channel]["findings"] if "[unsupported-algorithm]" in f]
        assert curve, (channel, cells[channel]["findings"])
        assert all("K1 Root" in f and "secp256k1" in f for f in curve), curve
        assert all("ECDSA P-256" in f.split(" -> fix: ")[1] for f in curve), curve
