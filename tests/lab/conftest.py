"""Fixtures for the lab tests: the lab in process, and ``ccapki lab``/``verify --live`` run
in process on real stores with a real lab daemon (helpers in tests/kit/lab.py).

The clock: the lab's handshakes are judged by OpenSSL against the machine's clock (it cannot
be set), and ``verify --live`` must compare them with offline verdicts taken at the same
instant. So these tests run on the machine's clock (``CCAPKI_NOW`` unset); a scenario that
needs the past (an expired certificate) sets ``CCAPKI_NOW`` for that one step. No lab process
outlives a test: every lab is stopped in a finalizer (``ccapki lab down``, then
``stop_background`` as a fallback), and every CLI test is bounded in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.cli import Cli, ok
from kit.lab import Deployment, LabFactory, LabHome, deployment_toml, make_deployment, stop_lab

TEST_SECONDS = 60  # a hard bound for every test


@pytest.fixture(autouse=True)
def _lab_env(wall_clock: None, fast_scrypt: None) -> None:
    """The machine's clock; passphrase stores at a low scrypt cost (the lab daemon, another
    process, unlocks them with the cost the store records)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test of the CLI here (one using ``cli``) fails (never hangs) after TEST_SECONDS
    (pytest-timeout); the in-process lab tests bound each step themselves
    (``kit.lab.run``)."""
    here = Path(__file__).parent
    for item in items:
        if "cli" in getattr(item, "fixturenames", ()) and here in item.path.parents:
            item.add_marker(pytest.mark.timeout(TEST_SECONDS))


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return make_deployment()


@pytest.fixture
def make_lab(cli: Cli, tmp_path: Path) -> Iterator[LabFactory]:
    """``make_lab()``: a store with the test deployment applied and its lab running."""
    made: list[LabHome] = []

    def make(
        *,
        name: str = "store",
        short: bool = False,
        passphrase: str | None = None,
        apply_now: dt.datetime | None = None,
        up: bool = True,
    ) -> LabHome:
        home = tmp_path / name
        env: dict[str, str | None] = {"CCAPKI_PASSPHRASE": passphrase} if passphrase else {}
        lab = LabHome(home, tmp_path / f"{name}.toml", short, env)
        lab.deployment.write_text(deployment_toml(short=short), encoding="utf-8")
        ok(cli("init", *([] if passphrase else ["--key-file"]), home_dir=home, env=env))
        apply_env = dict(env)
        if apply_now is not None:
            apply_env["CCAPKI_NOW"] = apply_now.isoformat()
            apply_env["CCAPKI_NOW_ALLOW_WRITES"] = "1"  # test-only: write on a moved clock
        ok(cli("apply", lab.deployment, home_dir=home, env=apply_env))
        made.append(lab)
        if up:
            ok(cli("lab", "up", "--interval", "1", home_dir=home, env=env))
        return lab

    yield make
    for lab in made:
        stop_lab(cli, lab)
