"""Walkthrough item 20: ``validity_days`` is a whole number, said in ccapki's words; a
duplicate name says which appliance already has it.

``validity_days = "365"`` (a string), ``365.0`` or ``true`` were accepted or refused in the
validation library's words ("Input should be greater than 0"); a CAS named like a peer of an
HA pair was reported as "already used by" the pair, not the peer. Every case: exit 2, one
``error: FILE:LINE:`` line naming the line, one ``hint:`` line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import CliRunner, line_of, write

BASE = """\
[deployment]
name = "t"
release = "4.8.0"
source = "internal"
HEADER_EXTRA
[cam]
name = "cam"
virtual_hostname = "cam.example.org"
service_ip = "10.0.0.10"
primary = { name = "cam-1", hostname = "cam-1.example.org", ip = "10.0.0.11" }
secondary = { name = "cam-2", hostname = "cam-2.example.org", ip = "10.0.0.12" }

[[cas]]
name = "cas1"
hostname = "cas1.example.org"
ip = "10.1.0.10"
CAS_EXTRA
"""


def _file(header: str = "", cas: str = "") -> str:
    return BASE.replace("HEADER_EXTRA", header).replace("CAS_EXTRA", cas)


def _refused(
    cli: CliRunner, tmp_path: Path, text: str, needle: str, nth: int = 1
) -> tuple[str, str]:
    path = write(tmp_path / "d.toml", text)
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2, r.both
    assert r.out == ""
    error, hint = r.err.splitlines()
    assert error.startswith(f"error: {path}:{line_of(text, needle, nth)}: "), (error, needle)
    assert hint.startswith("hint: ")
    assert "Input should" not in r.err, r.err
    assert "Value error" not in r.err, r.err
    return error, hint


@pytest.mark.parametrize("where", ["cas", "deployment"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"365"', "is a string"),
        ("365.0", "is not a whole number"),
        ("true", "is not a whole number"),
        ("[365]", "is not a whole number"),
    ],
)
def test_validity_days_must_be_a_whole_number(
    cli: CliRunner, tmp_path: Path, where: str, value: str, words: str
) -> None:
    line = f"validity_days = {value}"
    text = _file(**{"cas" if where == "cas" else "header": line})
    error, hint = _refused(cli, tmp_path, text, line)
    assert f"validity_days = {value} {words}" in error, error
    assert "a whole number of days from 1 to 36500" in hint, hint
    if value == '"365"':
        assert "validity_days = 365 " in hint, hint  # the same value, without the quotes


@pytest.mark.parametrize("value", ["-5", "0", "36501", "100000000000"])
def test_validity_days_out_of_range(cli: CliRunner, tmp_path: Path, value: str) -> None:
    line = f"validity_days = {value}"
    error, hint = _refused(cli, tmp_path, _file(cas=line), line)
    assert f"validity_days = {value} is out of range" in error, error
    assert "from 1 to 36500" in hint, hint


@pytest.mark.parametrize("value", ["1", "825", "36500"])
def test_validity_days_in_range_is_used(cli: CliRunner, tmp_path: Path, value: str) -> None:
    import json

    path = write(tmp_path / "d.toml", _file(cas=f"validity_days = {value}"))
    r = cli("plan", str(path), "--json", home_dir=None)
    assert r.code == 0, r.both
    days = {i["name"]: i["validity_days"] for i in json.loads(r.out)["identities"]}
    assert days["cas1"] == int(value)


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("cam-1", "cam-1, the primary of HA pair cam"),
        ("cam-2", "cam-2, the secondary of HA pair cam"),
        ("cam", "the HA pair cam"),
    ],
)
def test_a_duplicate_name_names_its_first_owner(
    cli: CliRunner, tmp_path: Path, name: str, owner: str
) -> None:
    text = _file().replace('name = "cas1"', f'name = "{name}"')
    error, _hint = _refused(cli, tmp_path, text, f'name = "{name}"', nth=2)
    assert f"duplicate name {name!r} (already used by {owner})" in error, error


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("bad name", '"bad name" is not a valid name'),
        ("x" * 5000, '"' + "x" * 40 + '..." (5000 characters) is not a valid name'),
    ],
)
def test_a_bad_name_is_quoted_as_written_and_a_long_one_shortened(
    cli: CliRunner, tmp_path: Path, name: str, said: str
) -> None:
    """A walkthrough gave a 5,000-character name: the error line quoted all of it."""
    path = write(tmp_path / "d.toml", _file().replace('name = "t"', f'name = "{name}"'))
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2
    first, hint = r.err.splitlines()
    assert first == f"error: {path}:2: deployment.name: {said}"
    assert len(first) < 200 + len(str(path))
    assert hint.startswith("hint: names use letters, digits")
