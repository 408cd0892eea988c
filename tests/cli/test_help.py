"""Walkthrough item 25: every command's ``--help`` has EXAMPLES and EXIT CODES; a command
group run without a subcommand prints its help and exits 0 (as ``git remote`` does: the help
is what was asked for); every environment variable ccapki reads or names is in the README.
"""

from __future__ import annotations

import re

import click
import pytest

from ccapki.cli.app import cli as root
from kit.cli import REPO, CliRunner, command_paths

PATHS = command_paths()
GROUPS = [
    p
    for p in PATHS
    if len(p) == 1 and isinstance(root.get_command(click.Context(root), p[0]), click.Group)
]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "ccapki")
def test_help_has_examples_and_exit_codes(cli: CliRunner, path: tuple[str, ...]) -> None:
    r = cli(*path, "--help", home_dir=None)
    assert r.code == 0, r.both
    assert "\n  EXAMPLES\n" in r.out, r.out
    assert "\n  EXIT CODES\n" in r.out, r.out
    examples = r.out.split("\n  EXAMPLES\n", 1)[1].split("\n  EXIT CODES\n")[0]
    assert "ccapki " + " ".join(path) in examples, examples  # an example of this command
    codes = r.out.split("\n  EXIT CODES\n", 1)[1]
    assert re.search(r"\b0 ", codes), codes
    assert re.search(r"\b2 ", codes), codes


def test_the_groups_are_found() -> None:
    assert {g[0] for g in GROUPS} == {"acme", "backup", "ca", "keys", "lab", "trust", "users"}


@pytest.mark.parametrize("path", [(), *GROUPS], ids=lambda p: " ".join(p) or "ccapki")
def test_a_group_without_a_subcommand_prints_its_help_and_exits_0(
    cli: CliRunner, path: tuple[str, ...]
) -> None:
    r = cli(*path, home_dir=None)
    assert r.code == 0, r.both
    assert r.out.startswith(f"Usage: ccapki {' '.join(path)}".rstrip() + " "), r.out
    assert "Commands:" in r.out
    assert r.err == ""


def test_every_environment_variable_is_in_the_readme() -> None:
    readme = set(re.findall(r"CCAPKI_[A-Z_]+", (REPO / "README.md").read_text()))
    used: set[str] = set()
    for path in (REPO / "src" / "ccapki").rglob("*.py"):
        used |= set(re.findall(r"CCAPKI_[A-Z_]+[A-Z]", path.read_text()))
    assert "CCAPKI_EXPORT_PASSWORD" in used
    assert used <= readme, sorted(used - readme)
