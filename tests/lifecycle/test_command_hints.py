"""Walkthrough items 11 and 12: each error's hint fits the command that printed it.

11. A command that takes no deployment file (``trust check``, ``csr``, ``export``...) never
    says "pass the deployment file"; with no store at all it says there is no store. The
    commands that take a FILE (``plan``, ``apply``) name themselves in the hint.
12. ``csr --all`` on a deployment with no third-party identity says so (never "no identity
    named ... or pass --all" when --all was given).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kit.cli import CliRunner, ok, standalone, write
from kit.pgmode import BACKEND

from .conftest import deployment

#: commands that read the deployment the store holds (no FILE argument)
NO_FILE = [
    ("trust", "check"),
    ("trust", "plan"),
    ("csr", "--all"),
    ("export", "cas1", "--format", "pem-bundle", "--out", "x.pem"),
]


def _error(cli: CliRunner, *args: str) -> tuple[str, str]:
    r = cli(*args)
    assert r.code == 2, r.both
    lines = r.err.splitlines()
    assert len(lines) == 2, r.err
    assert lines[0].startswith("error: "), r.err
    assert lines[1].startswith("hint: "), r.err
    return lines[0], lines[1]


@pytest.mark.parametrize("args", NO_FILE, ids=" ".join)
def test_no_store_says_so(cli: CliRunner, home: Path, args: tuple[str, ...]) -> None:
    error, hint = _error(cli, *args)
    if BACKEND == "postgresql":  # a database is given, and it is empty: it is named
        assert re.fullmatch(r"error: the database postgresql\S+ holds no ccapki schema", error)
    else:
        assert error == f"error: no ccapki store at {home}", error
        # the exact command, on the store this one was given (run as printed: never
        # the default store)
        assert f"`ccapki --home {home} init`" in hint, hint
    assert "init`" in hint, hint
    assert "pass the deployment file" not in hint
    assert "ccapki plan" not in hint


@pytest.mark.parametrize("args", NO_FILE, ids=" ".join)
def test_store_without_deployment_says_apply_first(
    cli: CliRunner, home: Path, args: tuple[str, ...]
) -> None:
    ok(cli("init"))
    error, hint = _error(cli, *args)
    assert "holds no deployment" in error, error
    assert "ccapki apply FILE" in hint, hint
    assert "pass the deployment file" not in hint
    assert f"`ccapki {' '.join(args[:2] if args[0] == 'trust' else args[:1])}`" in hint, hint


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "empty-store"])
def test_file_commands_name_themselves(cli: CliRunner, command: str, store: bool) -> None:
    if store:
        ok(cli("init"))
    error, hint = _error(cli, command)
    assert "no deployment file given" in error, error
    assert f"`ccapki {command} FILE`" in hint, hint
    assert "ccapki plan" not in hint or command == "plan", hint


def test_csr_all_without_third_party_identity(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    ok(cli("init"))
    ok(cli("apply", path))
    error, hint = _error(cli, "csr", "--all", "--out", str(tmp_path / "csrs"))
    assert "third-party" in error, error
    assert "no identity named" not in error
    assert "or pass --all" not in hint, hint
    assert 'source = "third-party"' in hint, hint
    assert "ccapki csr NAME" in hint, hint
    assert not (tmp_path / "csrs").exists()
    # without --all and without a name: the hint offers both
    error, hint = _error(cli, "csr")
    assert error == "error: no identity given", error
    assert "--all" in hint
