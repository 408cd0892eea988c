"""Issue 12 walkthrough: the judgement of a current certificate sent without its
intermediate names what is missing (``probe`` makes it a finding: tests/cli/test_probe_chain.py)."""

from __future__ import annotations

from ccapki.lifecycle.probing import classify_endpoint
from ccapki.store.records import ProbeVerdict
from kit.certs import NOW

from .test_probing import Inventory, served


def test_the_judgement_names_the_missing_intermediate() -> None:
    inv = Inventory()
    j = classify_endpoint("cas1", served(inv.cas1.cert), inv.known, now=NOW)
    assert j.verdict is ProbeVerdict.EXPECTED
    assert j.missing_intermediates == ("Campus Issuing CA",)
    full = classify_endpoint("cas1", served(inv.cas1.cert, *inv.cas1.chain), inv.known, now=NOW)
    assert full.missing_intermediates == ()
