"""One lab per store, and the commands naming another deployment than the one it serves
(walkthroughs B and C).

B: ``--deployment hospital lab status`` while the lab serves ``campus`` printed campus's
links and exited 0 ("every checked link is up"), so a health check of hospital passed on
another deployment's links. It now refuses, as ``verify --live`` does; ``lab status``
without a name still shows the lab as it runs.

C: ``--deployment hospital lab reload`` reloaded campus's lab and said "lab reloaded" (exit
0); ``--deployment hospital lab up`` said only "a lab already runs" with the hint "or
'ccapki lab reload'" (which reloads campus); ``--deployment hospital probe`` said the lab
"serves none of this store's deployments"; ``--deployment hospital lab down`` stopped
campus's lab saying only "lab stopped". Each now names the deployment the lab serves, and
reload/up/probe refuse (exit 2) rather than act on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


@pytest.fixture
def campus_lab(cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None) -> Iterator[None]:
    """Deployments campus and hospital in one store, the lab serving campus."""
    for name, ip in (("campus", "10.1.0.1"), ("hospital", "10.2.0.1")):
        text = deployment(name=name, cam=standalone(f"{name}-cam", ip))
        ok(cli("apply", write(tmp_path / f"{name}.toml", text)))
    ok(cli("--deployment", "campus", "lab", "up", "--interval", "1"))
    try:
        yield
    finally:
        cli("lab", "down")


def test_lab_status_of_a_deployment_the_lab_does_not_serve_is_refused(
    cli: Cli, campus_lab: None
) -> None:
    r = error_with_hint(cli("--deployment", "hospital", "lab", "status"))
    first, hint = r.err.splitlines()[:2]
    assert first.endswith("serves deployment 'campus', not 'hospital'"), first
    assert "`ccapki lab down`, then `ccapki --deployment hospital lab up`" in hint
    assert r.out == ""
    r = error_with_hint(cli("lab", "status", "--json", env={"CCAPKI_DEPLOYMENT": "hospital"}))
    assert "not 'hospital'" in r.err
    # the deployment it serves, or none named: its status as before
    for named in (("--deployment", "campus"), ()):
        r = cli(*named, "lab", "status", "--json")
        assert r.code in (0, 1), r.both
        assert r.json()["deployment"] == "campus"


def test_lab_commands_naming_another_deployment_say_whose_lab_it_is(
    cli: Cli, campus_lab: None
) -> None:
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
    down = ok(cli("--deployment", "hospital", "lab", "down"))
    assert "lab stopped (it served deployment campus)" in down.out
