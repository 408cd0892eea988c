"""Issue 12 walkthrough: an endpoint presenting its current certificate without the
intermediate is still "expected" (the right certificate), but a finding: clients that do
not fetch a missing intermediate (Java on the appliances: the CAM/CAS links) cannot verify
it. ``probe`` exits 1, flags it (``chain_complete: false``, the missing names) and hints
at the fix; the unit-level judgement carries the names too."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kit.cli import Cli, ok
from kit.endpoints import Tls
from kit.lab import SOLO

from .test_probe_cli import Estate, _bounded, by_endpoint, estate, probe_json

__all__ = ["_bounded", "estate"]  # fixtures, used by name


def test_a_chain_without_its_intermediate_is_a_finding(cli: Cli, estate: Estate) -> None:
    full = estate.served[SOLO]
    leaf = x509.load_pem_x509_certificates(full.chain_pem)[0]
    assert len(x509.load_pem_x509_certificates(full.chain_pem)) > 1  # an intermediate exists
    estate.set(SOLO, "gui", Tls(leaf.public_bytes(serialization.Encoding.PEM), full.key_pem))
    doc = probe_json(cli, code=1)
    eps = by_endpoint(doc)
    e = eps[(SOLO, "gui")]
    assert e["verdict"] == "expected"
    assert e["chain_complete"] is False
    assert e["missing_intermediates"], e
    assert "lacks the intermediate" in e["reason"]
    assert eps[(SOLO, "control")]["chain_complete"] is True
    assert doc["runs"][0]["incomplete_chains"] == 1
    text = cli("probe")
    assert text.code == 1, text.both
    assert "chain incomplete" in text.out
    assert f"ccapki export {SOLO} --format pem-bundle" in text.out
    estate.set(SOLO, "gui", full)
    ok(cli("probe"))
