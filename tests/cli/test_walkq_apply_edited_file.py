"""Walkthrough Q: ``ccapki apply`` (and ``ccapki plan``) without FILE work from the file the
store last applied, as it was then. After the administrator edited that file on disk (a
CAS's new IP), ``ccapki apply`` said "nothing to do" and ``plan`` "nothing" for it, with no
word that the edit was not read: they now say so on standard error, naming the command
that applies the edit, and still do what they did."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, ok, standalone, write


def _edited(cli: Cli, tmp_path: Path) -> Path:
    text = deployment(cas=[standalone("cas-lib", "10.0.3.10")])
    f = write(tmp_path / "campus.toml", text)
    ok(cli("apply", f))
    f.write_text(text.replace("10.0.3.10", "10.0.3.99"), encoding="utf-8")
    return f


def test_apply_without_file_says_the_edit_is_not_read(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = _edited(cli, tmp_path)
    r = ok(cli("apply"))
    assert "nothing to do" in r.out  # the file as applied: unchanged behaviour
    notes = [line for line in r.err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, r.err
    assert f"{f} changed on disk since it was applied" in notes[0]
    assert f"`ccapki apply {f}`" in notes[0]
    r = ok(cli("apply", f))  # the edit applied: the file on disk is the stored one again
    assert "reissued cas-lib" in r.out
    assert "changed on disk" not in ok(cli("apply")).err


def test_plan_without_file_says_the_edit_is_not_read(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = _edited(cli, tmp_path)
    r = ok(cli("plan"))
    assert "10.0.3.99" not in r.out
    assert f"note: {f} changed on disk since it was applied" in r.err
    assert f"`ccapki plan {f}`" in r.err
    assert "changed on disk" not in ok(cli("plan", f)).err  # FILE given: no note
    assert "changed on disk" not in ok(cli("plan", "--json")).out


def test_no_note_when_the_file_is_unchanged_or_gone(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = write(tmp_path / "campus.toml", deployment(cas=[standalone("cas-lib", "10.0.3.10")]))
    ok(cli("apply", f))
    assert ok(cli("apply")).err == ""
    f.unlink()
    assert "changed on disk" not in ok(cli("apply")).err
