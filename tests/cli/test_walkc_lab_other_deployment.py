"""Walkthrough C: one lab per store, and the commands naming another deployment than the one
it serves. ``--deployment hospital lab reload`` reloaded campus's lab and said "lab
reloaded" (exit 0); ``--deployment hospital lab up`` said only "a lab already runs" with the
hint "or 'ccapki lab reload'" (which reloads campus); ``--deployment hospital probe`` said
the lab "serves none of this store's deployments" (it serves campus); ``--deployment
hospital lab down`` stopped campus's lab saying only "lab stopped". Each now names the
deployment the lab serves, and reload/up/probe refuse (exit 2) rather than act on it.
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


def test_lab_commands_naming_another_deployment_say_whose_lab_it_is(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    for name, ip in (("campus", "10.1.0.1"), ("hospital", "10.2.0.1")):
        text = deployment(name=name, cam=standalone(f"{name}-cam", ip))
        ok(cli("apply", write(tmp_path / f"{name}.toml", text)))
    ok(cli("--deployment", "campus", "lab", "up", "--interval", "1"))
    try:
        r = error_with_hint(cli("--deployment", "hospital", "lab", "reload"))
        first, hint = r.err.splitlines()[:2]
        assert first.endswith("serves deployment 'campus', not 'hospital': nothing was reloaded")
        assert "`ccapki --deployment campus lab reload`" in hint
        assert "`ccapki lab down`, then `ccapki --deployment hospital lab up`" in hint
        assert "reloaded" not in r.out

        r = error_with_hint(cli("--deployment", "hospital", "lab", "up"))
        first, hint = r.err.splitlines()[:2]
        assert "for deployment 'campus'" in first, first
        assert first.endswith("not 'hospital'"), first
        assert "lab reload" not in hint  # it would reload campus
        assert "`ccapki --deployment hospital lab up`" in hint

        r = error_with_hint(cli("--deployment", "hospital", "probe"))
        first, hint = r.err.splitlines()[:2]
        assert "serves none of this store's deployments" not in first
        assert first.endswith("serves deployment 'campus', not 'hospital'"), first
        assert "`ccapki --deployment campus probe`" in hint

        # nothing above reloaded campus's lab: its first reload is this one
        assert "(1 reload so far)" in ok(cli("--deployment", "campus", "lab", "reload")).out
    finally:
        down = ok(cli("--deployment", "hospital", "lab", "down"))
    assert "lab stopped (it served deployment campus)" in down.out
