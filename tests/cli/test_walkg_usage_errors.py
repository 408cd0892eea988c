"""A new administrator's typos: a misspelt command names the one meant, and an option that
takes a value given twice is refused (which of the two was meant?) rather than the last one
silently winning. Each is one ``error:`` + ``hint:``, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok


@pytest.mark.parametrize(
    ("args", "meant"),
    [(["aply"], "apply"), (["keys", "lst"], "list"), (["trust", "chek"], "check")],
)
def test_a_misspelt_command_names_the_one_meant(
    cli: CliRunner, args: list[str], meant: str
) -> None:
    r = error_with_hint(cli(*args))
    first = r.err.splitlines()[0]
    assert f"No such command '{args[-1]}'" in first, r.err
    assert f"Did you mean '{meant}'?" in first, r.err


def test_a_command_far_from_any_says_no_guess(cli: CliRunner) -> None:
    r = error_with_hint(cli("zzzzzz"))
    assert "Did you mean" not in r.err, r.err


def test_an_option_given_twice_is_refused_and_nothing_is_written(
    cli: CliRunner, tmp_path: Path
) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", str(FAQ)))
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    r = error_with_hint(
        cli("export", "cas-dorm", "--format", "cert", "--out", first, "--out", second)
    )
    first_line = r.err.splitlines()[0]
    assert "'--out' given twice" in first_line, r.err
    assert not first.exists()
    assert not second.exists()


def test_a_global_option_given_twice_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    # the fixture gives --home already: a second one is the typo
    r = error_with_hint(cli("--home", str(tmp_path / "other"), "plan", str(FAQ)))
    assert "--home" in r.err.splitlines()[0], r.err
    assert "ccapki --help" in r.err, r.err


def test_a_flag_given_twice_still_runs(cli: CliRunner) -> None:
    r = ok(cli("plan", str(FAQ), "--json", "--json"))
    assert r.json()["certificates_needed"] == 6


def test_an_option_without_its_value_points_at_its_command_help(cli: CliRunner) -> None:
    r = error_with_hint(cli("export", "cas-dorm", "--out"))
    assert "Option '--out' requires an argument" in r.err, r.err
    assert "see `ccapki export --help`" in r.err, r.err
