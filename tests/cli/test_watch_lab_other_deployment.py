"""``ccapki watch`` probes the lab only for the deployment it serves (walkthrough: with a
lab serving campus, the watcher probed it for hospital too, whose appliances bear the same
names, and reported hospital's endpoints as drifting: "24 endpoints probed, 6 drifting",
each a drift notification for certificates hospital never had)."""

from __future__ import annotations

from pathlib import Path

from ccapki.store import Store
from kit.cli import Cli, deployment, ok, standalone, write


def test_watch_leaves_another_deployments_lab_alone(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    for name in ("campus", "hospital"):
        text = deployment(name=name, cam=standalone("cam", "10.1.0.1"))  # the same names
        ok(cli("apply", write(tmp_path / f"{name}.toml", text), "--new-deployment"))
    ok(cli("--deployment", "campus", "lab", "up", "--interval", "1"))
    try:
        r = ok(cli("watch", "--once"))
    finally:
        ok(cli("--deployment", "campus", "lab", "down"))
    lines = {line.split(":")[0]: line for line in r.out.splitlines()}
    assert "endpoints probed, 0 drifting" in lines["campus"], r.out
    assert "probed" not in lines["hospital"], r.out  # nothing of its own to probe
    assert "no endpoint to probe" in r.err
    with Store.open(keyfile_store, deployment="hospital") as store:
        assert store.probes.latest() == []
