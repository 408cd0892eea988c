"""Upgrade walkthrough: the lab of the previous release (git commit dae6f85, schema
0009_deployment_facts) runs, `ccapki upgrade` of this release migrates the store under it,
and `ccapki lab reload` of this release asks it to serve the store again. The old lab
cannot read the upgraded store. `lab reload` said "the lab did not reload: ... newer than
this ccapki knows" with the old lab's hint (use a newer ccapki: this one is that ccapki),
and, when the lab failed as it had before (a second reload, or a first one in the second
the lab last wrote its state, which counts whole seconds), it waited 30 s and said only
"the lab did not reload within 30 s". Each reload now answers at once: an older ccapki
started the lab, restart it with this one (`lab down`, `lab up`).

The old release is the old release itself: its source taken from git (`git archive dae6f85
src`), its CLI (and so its lab daemon) run in a subprocess with it first on PYTHONPATH.
Without that commit (a shallow clone: the history is missing, not a package CI installs)
the test skips.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.cli import REPO, Cli, deployment, error_with_hint, ok, standalone, write

PREVIOUS_RELEASE = "dae6f85"


@pytest.fixture(scope="module")
def old_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source of the previous release (its ``src`` folder)."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", PREVIOUS_RELEASE, "src"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:  # a shallow clone: the history, not a system package, is missing
        pytest.skip(f"git cannot give the release {PREVIOUS_RELEASE}: {proc.stderr.decode()!r}")
    dest = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def _old(old_src: Path, home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(old_src)}
    env.pop("CCAPKI_NOW", None)
    return subprocess.run(
        [sys.executable, "-m", "ccapki", "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.fixture
def old_lab(
    old_src: Path, home: Path, tmp_path: Path, cli: Cli, wall_clock: None
) -> Iterator[Path]:
    """A store made by the previous release with its lab running, then upgraded by this
    release under the lab."""
    dep = write(tmp_path / "d.toml", deployment(cam=standalone("cam", "10.0.0.1")))
    for args in (("init", "--key-file"), ("apply", dep), ("lab", "up", "--interval", "1")):
        proc = _old(old_src, home, *args)
        assert proc.returncode == 0, (args, proc.stdout + proc.stderr)
    try:
        assert "upgraded the store" in ok(cli("upgrade")).out
        yield home
    finally:
        cli("lab", "down")


# the lab's reload message is the same on either backend; on PostgreSQL (make test-pg, where
# under CI any skip fails) a checkout without the history would fail rather than skip
@pytest.mark.sqlite_only
def test_lab_reload_after_upgrade_says_restart_the_older_lab(cli: Cli, old_lab: Path) -> None:
    for _ in range(2):  # the second fails as the first did: the old lab's state is unchanged
        r = error_with_hint(cli("lab", "reload"))
        first, hint = r.err.splitlines()[:2]
        assert first == (
            "error: the lab did not reload: an older ccapki started it, and it cannot read "
            "the store since `ccapki upgrade`"
        ), r.both
        assert "restart it with this ccapki: `ccapki lab down`, then `ccapki " in hint, hint
        assert "lab up`" in hint, hint
        assert "pip install" not in r.both, r.both
    ok(cli("lab", "down"))
    ok(cli("lab", "up", "--interval", "1"))
    assert "lab reloaded (1 reload so far)" in ok(cli("lab", "reload")).out
