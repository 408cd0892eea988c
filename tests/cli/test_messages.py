"""Issue 8 item 15: messages a new administrator met, each reproduced by one command.

Plurals ("1 HA pair"), releases ccapki does not know (4.10) and a release written as a TOML
number, ``inspect`` of a file that does not exist, exit codes 3/130/143 documented, and
every click usage error exiting 2 (1 means "findings").
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from ccapki.cli import app
from kit.cli import REPO, CliRunner, deployment, ha_pair, write


def test_plan_counts_are_pluralised(cli: CliRunner, tmp_path: Path) -> None:
    one = write(tmp_path / "one.toml", deployment())
    r = cli("plan", str(one))
    assert r.code == 0, r.both
    assert "1 appliance, 0 HA pairs -> 1 certificate needed" in r.out, r.out
    pair = write(tmp_path / "pair.toml", deployment(cam=ha_pair("cam", "10.0.0")))
    r = cli("plan", str(pair))
    assert "2 appliances, 1 HA pair -> 1 certificate needed" in r.out, r.out


@pytest.mark.parametrize("text", ["4.10", "4.10.1", "4.99"])
def test_unknown_release_lines_are_refused(cli: CliRunner, tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "d.toml", deployment(release=text))
    r = cli("plan", str(path))
    assert r.code == 2, r.both
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {path}:3: release {text}"), first
    assert "4.0, 4.1" in hint
    assert "4.9" in hint


def test_known_release_lines_come_from_the_table() -> None:
    from ccapki.topology.releases import KNOWN_TRAINS

    assert str(min(KNOWN_TRAINS)) == "4.0.0"
    assert max(KNOWN_TRAINS).minor == 9


def test_release_as_a_toml_number(cli: CliRunner, tmp_path: Path) -> None:
    text = deployment().replace('release = "4.8.0"', "release = 4.8")
    r = cli("plan", str(write(tmp_path / "num.toml", text)), "--json")
    assert r.code == 0, r.both
    assert r.json()["release"] == "4.8.0"
    # 4.10 as a TOML float is 4.1: refused, never read as another release
    lossy = deployment().replace('release = "4.8.0"', "release = 4.10")
    path = write(tmp_path / "lossy.toml", lossy)
    r = cli("plan", str(path))
    assert r.code == 2, r.both
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {path}:3: release = 4.10 (a TOML number) is outside"), first
    # the hint names a spelling that is accepted, never "4.10" (refused in turn)
    assert 'release = "4.10"' not in hint, hint
    assert 'release = "4.8.0"' in hint, hint
    assert "valid string" not in r.err


@pytest.mark.parametrize(
    "target", ["nonexist.pem", "certs/cam.crt", "x.p12", "a.der", "b.key", "c.csr", "d.pfx"]
)
def test_inspect_a_missing_file_says_so(cli: CliRunner, keyfile_store: Path, target: str) -> None:
    r = cli("inspect", target)
    assert r.code == 2, r.both
    assert r.err.startswith(f"error: {target}: no such file"), r.err
    assert "no identity named" not in r.err


def test_inspect_an_unknown_name_still_says_identity(cli: CliRunner, keyfile_store: Path) -> None:
    r = cli("inspect", "cas-nowhere")
    assert r.code == 2
    assert "no such file" not in r.err


def test_exit_codes_are_documented(cli: CliRunner) -> None:
    readme = (REPO / "README.md").read_text()
    help_text = cli("--help", home_dir=None).out
    for text in (readme, help_text):
        for code in ("0", "1", "2", "3", "70", "130", "143"):
            assert re.search(rf"(^|[\s,(]){code} ", text), (code, text[-600:])
    assert "interrupted" in help_text
    assert "disagree" in help_text


@pytest.fixture
def odd_command() -> object:
    """A command raising click's non-usage errors (a file click could not open)."""

    @click.command()
    def odd() -> None:
        raise click.FileError("nothing.txt", "no such file")

    app.COMMANDS["odd-for-test"] = f"{__name__}:_ODD"
    globals()["_ODD"] = odd
    yield odd
    del app.COMMANDS["odd-for-test"]


@pytest.mark.usefixtures("odd_command")
def test_every_click_error_exits_2(cli: CliRunner) -> None:
    r = cli("odd-for-test", home_dir=None)
    assert r.code == 2, r.both
    assert r.err.startswith("error: "), r.err
    for args in (
        ("trust", "--bad"),
        ("trust", "plan", "--rotate"),
        ("keys", "retire"),
        ("export",),
        ("trust", "check", "--clients"),
        ("nosuch",),
    ):
        r = cli(*args, home_dir=None)
        assert r.code == 2, (args, r.both)
