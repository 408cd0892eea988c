"""Walkthrough item 19: ``check-ha`` with the files taken off both peers.

A file without a key cannot say whether both peers hold the same key ("unknown", not "no");
each file may have its own password (``--secondary-password``); giving only one of
``--primary``/``--secondary`` says what to add.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kit.cli import CliRunner, ha_pair, ok, write

from .conftest import deployment

SAME_KEY = "same private key on both peers"


@pytest.fixture
def files(cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path) -> Path:
    deployed(deployment(cas=[ha_pair("cas-ha", "10.5.0")]))
    out = tmp_path / "ha"
    out.mkdir()
    ok(cli("export", "cas-ha", "--for-peer", "--out", out / "a.p12", "--password", "pw-a-1234"))
    ok(cli("export", "cas-ha", "--for-peer", "--out", out / "b.p12", "--password", "pw-b-1234"))
    ok(cli("export", "cas-ha", "--format", "fullchain", "--out", out / "b-cert.pem"))
    return out


def _rows(cli: CliRunner, *args: str | Path) -> tuple[Any, dict[str, Any]]:
    r = cli("check-ha", "cas-ha", *args, "--json")
    return r, {c["item"]: c for c in r.json()["checks"]}


def test_a_secondary_without_a_key_is_unknown_not_no(cli: CliRunner, files: Path) -> None:
    args = (
        "--primary",
        files / "a.p12",
        "--secondary",
        files / "b-cert.pem",
        "--password",
        "pw-a-1234",
    )
    text = cli("check-ha", "cas-ha", *args)
    assert text.code == 1, text.both
    line = next(ln for ln in text.out.splitlines() if SAME_KEY in ln)
    assert "unknown" in line, line
    assert "no key" in line, line
    assert not line.rstrip().endswith(": no"), line
    _, rows = _rows(cli, *args)
    assert rows[SAME_KEY]["ok"] is False  # not confirmed: never "fit for HA"
    assert rows[SAME_KEY]["detail"].startswith("unknown"), rows[SAME_KEY]
    assert rows["secondary key matches its certificate"]["detail"] == "no private key"


def test_each_file_has_its_own_password(cli: CliRunner, files: Path) -> None:
    base = ("--primary", files / "a.p12", "--secondary", files / "b.p12")
    r = cli("check-ha", "cas-ha", *base, "--password", "pw-a-1234")
    assert r.code == 2, r.both  # b.p12 is not under pw-a
    assert "b.p12" in r.err
    assert "--secondary-password" in r.err
    r, rows = _rows(cli, *base, "--password", "pw-a-1234", "--secondary-password", "pw-b-1234")
    assert r.code == 0, r.both
    assert rows[SAME_KEY]["ok"] is True
    assert rows[SAME_KEY]["detail"] == "yes"
    # one password for both files still works
    same = write(files / "same.p12", (files / "a.p12").read_bytes())
    ok(
        cli(
            "check-ha",
            "cas-ha",
            "--primary",
            files / "a.p12",
            "--secondary",
            same,
            "--password",
            "pw-a-1234",
        )
    )


@pytest.mark.parametrize("given", ["--primary", "--secondary"])
def test_one_file_only_says_what_to_add(cli: CliRunner, files: Path, given: str) -> None:
    r = cli("check-ha", "cas-ha", given, files / "a.p12", "--password", "pw-a-1234")
    assert r.code == 2, r.both
    missing = "--secondary" if given == "--primary" else "--primary"
    first, hint = r.err.splitlines()[:2]
    assert first.startswith("error: "), r.err
    assert missing in first, first
    assert hint.startswith("hint: "), r.err
    assert hint != "hint: see --help", hint
    assert f"{missing} FILE" in hint, hint
    assert "ccapki check-ha cas-ha" in hint, hint
