"""Walkthrough B: ``trust remove APPLIANCE FINGERPRINT`` removes by fingerprint prefix, and
an empty prefix (``trust remove cas-clinic "$FP"`` with FP unset) or a ``%`` (a SQL LIKE
wildcard) matched every certificate: the whole Trusted Certificate Authorities store was
emptied and CAM/CAS links broke. Now the prefix must be hex (4 to 64 digits) and name one
certificate; otherwise nothing is removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.certs import OutsideCA, pem
from kit.cli import FAQ, Cli, error_with_hint, ok, write


def _listed(cli: Cli, appliance: str) -> list[str]:
    return [e["fingerprint"] for e in json.loads(ok(cli("trust", "list", appliance, "--json")).out)]


@pytest.mark.parametrize("prefix", ["", "%", "  ", "zz", "c0ffee_"])
def test_a_prefix_that_is_not_hex_removes_nothing(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA, prefix: str
) -> None:
    ok(cli("apply", FAQ))
    ok(cli("trust", "add", "cas-clinic", write(tmp_path / "r.pem", pem(outside.root))))
    before = _listed(cli, "cas-clinic")
    assert len(before) == 2
    r = error_with_hint(cli("trust", "remove", "cas-clinic", prefix))
    first, hint = r.err.splitlines()[:2]
    assert first == (
        f"error: {prefix!r} is not the start of a SHA-256 fingerprint "
        "(4 to 64 hex digits; nothing was removed)"
    )
    assert "`ccapki trust list cas-clinic`" in hint
    assert _listed(cli, "cas-clinic") == before


def test_a_prefix_with_colons_and_capitals_still_removes_the_one_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    ok(cli("apply", FAQ))
    ok(cli("trust", "add", "cas-clinic", write(tmp_path / "r.pem", pem(outside.root))))
    before = _listed(cli, "cas-clinic")
    target = before[1]
    spelled = ":".join(target[i : i + 2] for i in range(0, 12, 2)).upper()
    r = ok(cli("trust", "remove", "cas-clinic", spelled))
    assert "removed 1 certificate from cas-clinic" in r.out
    assert _listed(cli, "cas-clinic") == before[:1]
