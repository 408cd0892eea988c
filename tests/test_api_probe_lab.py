"""``ccapki.probe_endpoints`` (the service's probe job) probes the lab only for the
deployment it serves (walkthrough: the lab serving campus was probed for hospital, whose
appliances bear the same names, and every endpoint kept as hospital's drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki
from kit.cli import Cli, deployment, ok, standalone, write


def test_the_lab_of_another_deployment_is_not_probed(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    for name in ("campus", "hospital"):
        text = deployment(name=name, cam=standalone("cam", "10.1.0.1"))
        ok(cli("apply", write(tmp_path / f"{name}.toml", text), "--new-deployment"))
    ok(cli("--deployment", "campus", "lab", "up", "--interval", "1"))
    try:
        with ccapki.open_store(keyfile_store, deployment="hospital") as store:
            hospital = ccapki.stored_deployment(store, "hospital")
            with pytest.raises(ccapki.InputError) as caught:
                ccapki.probe_endpoints(store, hospital)
            assert store.probes.latest() == []
        assert caught.value.message == "the lab serves deployment 'campus', not 'hospital'"
        assert "`ccapki --deployment hospital lab up`" in caught.value.hint
        with ccapki.open_store(keyfile_store, deployment="campus") as store:
            run = ccapki.probe_endpoints(store, ccapki.stored_deployment(store, "campus"))
            assert run.records
            assert run.exit_code == 0
    finally:
        ok(cli("--deployment", "campus", "lab", "down"))
