"""`ccapki trust check --clients mozila` (a typo of a client root store's name) says which
names there are, not only "no such file: check the path"."""

from __future__ import annotations

from pathlib import Path

from kit.cli import FAQ, CliRunner, error_with_hint, ok


def test_an_unknown_clients_name_lists_the_names_there_are(cli: CliRunner) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", str(FAQ)))
    r = error_with_hint(cli("trust", "check", "--clients", "mozila"))
    assert "--clients mozila: no such file" in r.err, r.err
    hint = r.err.split("hint: ", 1)[1]
    assert "installed" in hint, r.err
    assert "mozilla" in hint, r.err


def test_a_missing_clients_file_is_named(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", str(FAQ)))
    missing = tmp_path / "missing.pem"
    r = error_with_hint(cli("trust", "check", "--clients", missing))
    assert str(missing) in r.err, r.err
