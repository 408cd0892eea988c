"""Walkthrough Q: ``ccapki verify --live --target deployment`` of a deployment file that
names no real endpoint said "no endpoint to probe" / "give endpoints per appliance in the
deployment file", without the syntax or the lab; it now says what ``ccapki probe
--target deployment`` says for the same file."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, Cli, error_with_hint, ok


def test_verify_without_endpoints_names_the_syntax_and_the_lab(
    wall_clock: None, cli: Cli, keyfile_store: Path
) -> None:  # verify --live runs on the real clock only
    ok(cli("apply", FAQ))
    r = error_with_hint(cli("verify", "--live", "--target", "deployment"))
    first, hint = r.err.splitlines()[:2]
    assert first == "error: no endpoint to probe: the deployment file gives none"
    assert 'endpoints = { control = "host:port", ... }' in hint
    assert "`ccapki lab up`" in hint
