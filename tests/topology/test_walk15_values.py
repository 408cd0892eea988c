"""Walkthrough 15: a wrong type inside a list (``ip = ["172.16.3.10", 1]``) is refused like
any other wrong type, never read as an address (``ipaddress.ip_address(1)`` is 0.0.0.1);
release numbers are read one way, strictly, whatever the loader (fast path or full) and
whether written as a string or a TOML number, and a hint names a spelling that is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import InputError
from ccapki.topology import fastload, loader
from ccapki.topology.releases import Release, parse_release
from kit.cli import CliRunner, error_with_hint, line_of, ok, write

from .test_value_types import BASE  # the same small deployment file

IP_HINT = 'ip = ["10.20.0.11", "10.20.0.12"] (each address in quotes)'


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('ip = "10.1.0.10"', 'ip = ["10.1.0.10", 1]', "cas[0].ip: 1 is a number"),
        ('ip = "10.1.0.10"', 'ip = [1, "10.1.0.10"]', "cas[0].ip: 1 is a number"),
        ('ip = "10.1.0.10"', "ip = [true]", "cas[0].ip: true is a boolean (true/false)"),
        ('ip = "10.1.0.10"', 'ip = ["10.1.0.10", 2.5]', "cas[0].ip: 2.5 is a number"),
        ('ip = "10.1.0.10"', "ip = 172", "cas[0].ip: 172 is a number"),
        ('ip = "10.0.0.11" }', 'ip = ["10.0.0.11", 3] }', "cam.primary.ip: 3 is a number"),
    ],
)
def test_a_number_in_an_ip_list_is_an_error_not_an_address(
    cli: CliRunner, tmp_path: Path, old: str, new: str, words: str
) -> None:
    text = BASE.replace(old, new, 1)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, hint = r.err.splitlines()[:2]
    assert first == f"error: {path}:{line_of(text, new)}: {words}, not an IP address in quotes"
    assert IP_HINT in hint, hint
    assert "0.0.0." not in r.both
    # the fast path hands it to the full loader: the same error from the module API
    with pytest.raises(InputError):
        fastload.parse_deployment(text, str(path))


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("[monitoring]\nwarn_days = [30, true]", "true is not a whole number of days"),
        ('[monitoring]\nwarn_days = [30, "7"]', '"7" is not a whole number of days'),
        (
            '[notify]\nemail_to = 1\nsmtp = "m.example.org:25"\nemail_from = "a@example.org"',
            "notify.email_to: 1 is a number, not an e-mail address",
        ),
        (
            '[notify]\nemail_to = ["a@example.org", 1]\nsmtp = "m.example.org:25"\n'
            'email_from = "a@example.org"',
            "notify.email_to[1]: 1 is a number, not a string",
        ),
    ],
)
def test_every_other_list_refuses_a_wrong_type_in_its_words(extra: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        loader.parse_deployment(BASE + "\n" + extra + "\n", "d.toml")
    assert words in info.value.message, info.value.message
    assert "Input should" not in info.value.message
    assert info.value.hint.startswith("write it like"), info.value.hint


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ('"4.7.2.1"', 'release = "4.7.2"'),  # once read as 4.7.2, the fourth part dropped
        ('"4.07"', 'release = "4.7"'),
        ('"4.10"', 'release = "4.8.0"'),
        ("4.10", 'release = "4.8.0"'),  # the TOML float 4.1: refused as "4.10", as written
        ("4.70", 'release = "4.8.0"'),  # the float 4.7: never read as 4.7
        ('"4.7.x"', 'release = "4.8.0"'),
    ],
)
def test_a_release_is_read_strictly_and_the_hint_is_a_valid_spelling(
    cli: CliRunner, tmp_path: Path, written: str, hint: str
) -> None:
    text = BASE.replace('release = "4.8.0"', f"release = {written}")
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, got = r.err.splitlines()[:2]
    assert first.startswith(f"error: {path}:3: release"), first
    assert hint in got, got
    # what the hint says is accepted
    fixed = BASE.replace('release = "4.8.0"', "release = " + hint.split("release = ")[1].split()[0])
    ok(cli("plan", str(write(tmp_path / "fixed.toml", fixed))))


@pytest.mark.parametrize(
    ("written", "release"),
    [('"4.7"', Release(4, 7, 0)), ("4.7", Release(4, 7, 0)), ('"4.7.2"', Release(4, 7, 2))],
)
def test_both_loaders_read_an_accepted_release_the_same(written: str, release: Release) -> None:
    text = BASE.replace('release = "4.8.0"', f"release = {written}")
    assert fastload.parse_deployment(text).release == release
    assert loader.parse_deployment(text).release == release


@pytest.mark.parametrize("text", ["4.7.2.1", "4.07", "04.8", "4.8.", ".4.8", "4.8.0.0"])
def test_parse_release_refuses_what_it_once_read_loosely(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_release(text)
    hint = info.value.hint
    spelled = hint.split('release = "')[1].split('"')[0]
    assert parse_release(spelled)  # the hint's spelling parses
