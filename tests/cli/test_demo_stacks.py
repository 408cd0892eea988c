"""Issue 10, item 5: the demo shows the keyUsage-less third-party root, where web-PKI and the
appliance's Java disagree, with ccapki's prediction for each stack held against the real
stack's handshake; `verify --live` names the stack behind each channel."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from ccapki.lifecycle.stackproof import keyusage_less_root
from ccapki.trust import Stack
from kit.cli import CliRunner


def test_real_stacks_confirm_the_predictions() -> None:
    rows = {r.stack: r for r in asyncio.run(keyusage_less_root(dt.datetime.now(dt.UTC)))}
    assert (rows[Stack.WEBPKI].predicted, rows[Stack.JAVA_PKIX].predicted) == (False, True)
    assert (rows[Stack.OPENSSL_STRICT].live, rows[Stack.OPENSSL_DEFAULT].live) == (False, True)
    assert rows[Stack.JAVA_PKIX].live is True  # the JVM's JSSE (java is installed here)
    assert all(r.agrees for r in rows.values())
    assert "no keyUsage" in rows[Stack.WEBPKI].detail
    assert rows[Stack.JAVA_PKIX].detail.startswith("web-PKI refuses")


def test_demo_shows_the_stacks_and_names_them_live(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCAPKI_NOW")
    r = cli("demo", home_dir=None)
    assert r.code == 0, r.both
    out = r.out
    assert "stacks differ" in out
    assert "the appliances' Java accepts it" in out
    for stack in ("webpki", "openssl-strict", "openssl-default", "java-pkix", "chromium"):
        assert stack in out
    # verify --live: the stack each channel's offline verdict models, and the live one
    assert "cam-cas: offline models java-pkix; live by" in out
    assert "web-login: offline models chromium; live by openssl-default" in out
