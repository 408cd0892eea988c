"""`--home=` or `--deployment=` given empty (a variable unset in a script: `--home=$DIR`)
acted on the default store, or on the store's only deployment, silently (walkthrough G): an
empty value given on the command line is refused; the environment's empty variables stay
"not set", as is usual."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok


@pytest.mark.parametrize("args", [("--home=",), ("--home", ""), ("--deployment=",)])
def test_an_empty_global_option_is_refused(
    cli: Cli, keyfile_store: Path, args: tuple[str, ...]
) -> None:
    ok(cli("apply", FAQ))
    r = error_with_hint(
        cli(*args, "status", home_dir=None, env={"CCAPKI_HOME": str(keyfile_store)})
    )
    option = args[0].rstrip("=")
    assert f"error: {option} is empty" in r.err
    assert r.out == ""


def test_an_empty_environment_variable_is_not_set(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    r = ok(cli("status", env={"CCAPKI_DEPLOYMENT": ""}))
    assert "faq-campus" in r.out


def test_a_role_not_known_names_the_argument_role(cli: Cli, keyfile_store: Path) -> None:
    r = error_with_hint(cli("users", "set-role", "bob", "boss"))
    assert "Invalid value for 'ROLE': 'boss' is not one of" in r.err
