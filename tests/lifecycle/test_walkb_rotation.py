"""Walkthrough B, ``trust plan --rotate``: the what-if mints the new certificate (and any CA
the new source needs) and rolls them back, yet the safe order printed "add root CA ...
[SHA-256 0346b6b3950ea62e, expires ...]", a fingerprint no certificate will ever have: the
CA really made at the rotation is another. Such a step now gives the expiry alone; a
certificate the store holds (the old one to retire) keeps its fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kit.cli import CliRunner, ok, standalone

from .conftest import deployment
from .test_renew import steps


@pytest.mark.parametrize(("to", "added"), [("internal", "root CA"), ("self-signed", "the CAM")])
def test_a_what_if_certificate_is_not_shown_with_a_fingerprint(
    cli: CliRunner, deployed: Callable[[str], Path], to: str, added: str
) -> None:
    source = "perfigo" if to == "self-signed" else "self-signed"
    deployed(
        deployment(
            release="4.8.0",
            source=source,
            cam=standalone("cam", "10.0.0.1"),
            cas=[standalone("cas-one", "10.6.0.1")],
        )
    )
    out = ok(cli("trust", "plan", "--rotate", "cam", "--to-source", to)).out
    found = steps(out)
    adds = [text for order, text in found if order == 1]
    assert adds, out
    for text in adds:
        assert text.startswith(f"add {added}"), text
        assert "[a new certificate, made when you rotate: expires " in text, text
        assert "SHA-256" not in text
    retire = [text for order, text in found if order == 3]
    assert retire, out
    assert all("[SHA-256 " in text for text in retire), retire
