"""Each ``ccapki users`` subcommand's EXIT CODES say what that one returns: they once all
said "unknown user or role, a name taken, a short password", also for `users list` (which
takes no name) and `users revoke` (which takes a token id)."""

from __future__ import annotations

import pytest

from kit.cli import CliRunner, error_with_hint, ok


def _exit_codes(help_text: str) -> str:
    return help_text.split("EXIT CODES", 1)[1]


@pytest.mark.parametrize(
    ("sub", "says", "never"),
    [
        ("list", "2 no store", "password"),
        ("revoke", "no live token", "password"),
        ("tokens", "no user by that name", "password"),
        ("disable", "no user by that name", "a name taken"),
        ("set-role", "a role other than", "password"),
        ("add", "a name taken", "no live token"),
    ],
)
def test_users_help_exit_codes_are_each_commands_own(
    cli: CliRunner, sub: str, says: str, never: str
) -> None:
    codes = " ".join(_exit_codes(ok(cli("users", sub, "--help")).out).split())
    assert says in codes, codes
    assert never not in codes, codes


def test_users_exit_codes_are_what_the_help_says(cli: CliRunner) -> None:
    ok(cli("init", "--key-file"))
    assert ok(cli("users", "list")).out.startswith("no users yet")
    assert "no live token 999" in error_with_hint(cli("users", "revoke", "999")).err
    assert "no user named 'nobody'" in error_with_hint(cli("users", "tokens", "nobody")).err
    assert "no user named 'nobody'" in error_with_hint(cli("users", "disable", "nobody")).err
    error_with_hint(cli("users", "set-role", "nobody", "boss"))
