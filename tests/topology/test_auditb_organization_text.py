"""Audit B: ``organization`` was checked for its size only, while the subject's other text
(state, locality, unit) refuses a control or invisible character and a space at either
end: ``organization = "Example\\nUniversity"`` (or a tab, a NUL, a right-to-left override)
planned, and every certificate and CSR of the deployment would have carried it in its O.
Both loaders (the fast path and the full one) now refuse it, ``FILE:LINE`` and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import DeploymentError
from ccapki.topology import fastload, loader
from kit.cli import FAQ, Cli, error_with_hint, line_of, write

ORG = 'organization = "Example University"'


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Example\\nUniversity", "control or invisible character (U+000A)"),
        ("Example\\tUniversity", "control or invisible character (U+0009)"),
        ("Example\\u0000University", "control or invisible character (U+0000)"),
        ("Example\\u202eUniversity", "control or invisible character (U+202E)"),
        (" Example University", "starts or ends with a space"),
        ("Example University ", "starts or ends with a space"),
    ],
)
def test_an_organization_no_certificate_should_carry_is_refused(
    cli: Cli, tmp_path: Path, value: str, words: str
) -> None:
    line = f'organization = "{value}"'
    text = FAQ.read_text().replace(ORG, line)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", path))
    first, hint = r.err.splitlines()
    assert first.startswith(f"error: {path}:{line_of(text, line)}: deployment.organization: ")
    assert words in first, first
    assert hint.startswith('hint: write it like organization = "Example University"'), hint
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        with pytest.raises(DeploymentError):
            parse(text, str(path))


def test_an_accented_organization_still_plans() -> None:
    text = FAQ.read_text().replace(ORG, 'organization = "Université de Genève"')
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        assert parse(text, "d.toml").organization == "Université de Genève"
