"""Walkthrough B: ``ccapki --deployment hospital lab status`` while the store's lab serves
deployment ``campus`` printed campus's links and exited 0 ("every checked link is up"), so a
health check of hospital passed on another deployment's links. It now refuses, as
``verify --live`` does, saying which deployment the lab serves and how to serve the one
named; ``lab status`` without a name still shows the lab as it runs."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


def test_lab_status_of_a_deployment_the_lab_does_not_serve_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    for name, ip in (("campus", "10.1.0.1"), ("hospital", "10.2.0.1")):
        text = deployment(name=name, cam=standalone(f"{name}-cam", ip))
        ok(cli("apply", write(tmp_path / f"{name}.toml", text)))
    ok(cli("--deployment", "campus", "lab", "up", "--interval", "1"))
    try:
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
    finally:
        ok(cli("lab", "down"))
