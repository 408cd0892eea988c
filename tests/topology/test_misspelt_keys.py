"""A misspelt key names itself, with the key it was likely meant to be: `nam = "cam-a"` in
a peer's inline table was reported as "cam.primary.name is missing" (found by a bad-input
audit), sending the reader to add a key the file already has, misspelt."""

from __future__ import annotations

import pytest

from ccapki.errors import DeploymentError
from ccapki.topology.loader import parse_deployment

_HEAD = '[deployment]\nname = "x"\nrelease = "4.9.0"\norganization = "X"\nsource = "internal"\n'
_PAIR = (
    '[cam]\nname = "cam"\nvirtual_hostname = "cam.x.test"\nservice_ip = "10.0.0.10"\n'
    'primary = {{ {first} = "cam-a", hostname = "cam-a.x.test", ip = "10.0.0.11" }}\n'
    'secondary = {{ name = "cam-b", hostname = "cam-b.x.test", ip = "10.0.0.12" }}\n'
)


def test_a_misspelt_name_of_a_peer_is_an_unknown_key_not_a_missing_one() -> None:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(_HEAD + _PAIR.format(first="nam"), "d.toml")
    assert "unknown key 'nam' in cam.primary (did you mean 'name'?)" in str(info.value)
    assert "missing" not in str(info.value)
    assert info.value.line == 10  # the primary = { ... } line


def test_a_key_left_out_is_still_missing() -> None:
    text = _HEAD + _PAIR.format(first="name").replace('name = "cam-a", ', "")
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "d.toml")
    assert "cam.primary.name is missing" in str(info.value)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            _HEAD.replace("release", "relase"),
            "unknown key 'relase' in deployment (did you mean 'release'?)",
        ),
        (_HEAD + "colour = 1\n", "unknown key 'colour' in deployment\n"),
    ],
)
def test_unknown_keys_suggest_only_a_close_one(text: str, said: str) -> None:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text + _PAIR.format(first="name"), "d.toml")
    assert said.rstrip("\n") in str(info.value)
    if said.endswith("\n"):
        assert "did you mean" not in str(info.value)


def test_every_unknown_key_of_the_file_is_named_at_once() -> None:
    """A walkthrough: `colour` in [deployment] and `hostnme` in [cam] took two runs to find;
    the first is the error, the hint names the others with their lines."""
    text = (
        _HEAD
        + 'colour = "blue"\n'
        + '[cam]\nname = "cam"\nhostnme = "cam.x.test"\nhostname = "cam.x.test"\n'
        + 'ip = "10.0.0.1"\n'
    )
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "d.toml")
    assert "unknown key 'colour' in deployment" in str(info.value)
    assert info.value.line == 6
    assert info.value.hint.endswith("; the file has 1 more unknown key: 'hostnme' in cam (line 9)")
    # one unknown key: no word of others
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text.replace('colour = "blue"\n', ""), "d.toml")
    assert "more unknown" not in info.value.hint
