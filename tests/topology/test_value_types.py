"""Walkthrough: a value of the wrong TOML type (a number where a hostname goes, a list for
the Service IP, a string for an HA peer) is said in ccapki's words, not the validation
library's ("Input should be a valid dictionary or instance of _Member"), and the hint shows
how the value is written. Every case: exit 2, one ``error: FILE:LINE:`` line, one ``hint:``.
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
"""


@pytest.mark.parametrize(
    ("old", "new", "words", "example"),
    [
        (
            'hostname = "cas1.example.org"',
            "hostname = 42",
            "cas[0].hostname: 42 is a number, not a string",
            'hostname = "cas.example.edu"',
        ),
        (
            'virtual_hostname = "cam.example.org"',
            'virtual_hostname = ["cam.example.org"]',
            'cam.virtual_hostname: ["cam.example.org"] is a list, not a string',
            'virtual_hostname = "cas.example.edu"',
        ),
        (
            'service_ip = "10.0.0.10"',
            'service_ip = ["10.0.0.10"]',
            'cam.service_ip: ["10.0.0.10"] is a list, not a string',
            'service_ip = "10.20.0.10" (one address, in quotes)',
        ),
        (
            'name = "cas1"',
            "name = 7",
            "cas[0].name: 7 is a number, not a string",
            'name = "cas-dorm"',
        ),
        (
            'primary = { name = "cam-1", hostname = "cam-1.example.org", ip = "10.0.0.11" }',
            'primary = "cam-1"',
            'cam.primary: "cam-1" is a string, not a table',
            'primary = { name = "cas-dorm-a", hostname = "cas-dorm-a.example.edu", ip = ',
        ),
        (
            'secondary = { name = "cam-2", hostname = "cam-2.example.org", ip = "10.0.0.12" }',
            "secondary = 2",
            "cam.secondary: 2 is a number, not a table",
            'secondary = { name = "cas-dorm-b", hostname = "cas-dorm-b.example.edu", ip = ',
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_said_in_toml_words(
    cli: CliRunner, tmp_path: Path, old: str, new: str, words: str, example: str
) -> None:
    assert old in BASE
    text = BASE.replace(old, new)
    path = write(tmp_path / "d.toml", text)
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2, r.both
    assert r.out == ""
    assert "Traceback" not in r.err
    error, hint = r.err.splitlines()
    assert error.startswith(f"error: {path}:{line_of(text, new)}: "), error
    assert "Input should" not in r.err, r.err
    assert "_Member" not in r.err, r.err
    assert words in error, error
    assert hint.startswith("hint: write it like "), hint
    assert example in hint, hint
