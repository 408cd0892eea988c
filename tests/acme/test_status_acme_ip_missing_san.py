"""``ccapki status`` of an ACME HA pair whose peer got a new IP address in the applied file
(stage ``missing-san``) said "order a new one from the ACME CA (`ccapki acme order
cas-dorm`)": an order that lacks the IP again (DNS-01 cannot prove an IP). It now says, in
``check-ha``'s words, that no ACME order can name it and what can (``source = "internal"``
or ``"third-party"``); a renamed peer (a DNS name) still gets the order, with the IPs'
words after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acme_servers import Pebble

from kit.cli import Cli, ok, write


def _pair_file(folder: Path, pebble: Pebble, hook: Path) -> Path:
    """docs/acme.md's setup: a CAS pair with ``source = "acme"`` (as walkthrough U)."""
    return write(
        folder / "acme-pair.toml",
        '[deployment]\nname = "acme-pair"\nrelease = "4.8.0"\norganization = "Test Org"\n\n'
        '[cam]\nname = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\n\n'
        '[[cas]]\nname = "cas-dorm"\nsource = "acme"\n'
        'virtual_hostname = "cas-dorm.example.org"\nservice_ip = "10.20.0.10"\n'
        'primary = { name = "cas-dorm-a", hostname = "cas-dorm-a.example.org", '
        'ip = "10.20.0.11" }\n'
        'secondary = { name = "cas-dorm-b", hostname = "cas-dorm-b.example.org", '
        'ip = "10.20.0.12" }\n\n'
        f'[acme]\ndirectory = "{pebble.directory}"\nemail = "pki@example.org"\n'
        f'ca_bundle = "{pebble.bundle}"\ndns = "hook"\nhook = {json.dumps([str(hook)])}\n'
        "propagation_timeout = 30\n",
    )


pytestmark = pytest.mark.integration


def _note(cli: Cli, name: str) -> str:
    r = cli("status", "--json")
    assert r.code == 1, r.both
    (item,) = [i for i in r.json()["items"] if i["kind"] == "identity" and i["name"] == name]
    assert item["stage"] == "missing-san", item
    return str(item["note"])


def test_status_says_no_acme_order_names_the_new_ip(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = _pair_file(tmp_path, pebble, hook)
    ok(cli("apply", f))
    assert "missing-san" not in ok(cli("status")).out  # the file unchanged: nothing read
    text = f.read_text()
    write(f, text.replace('ip = "10.20.0.12"', 'ip = "10.20.0.13"'))
    ok(cli("apply", f))
    note = _note(cli, "cas-dorm")
    assert "10.20.0.13" in note, note
    assert "`ccapki acme order cas-dorm`" not in note, note
    assert "an ACME order never names an IP address" in note, note
    assert 'give cas-dorm source = "internal" or "third-party"' in note, note
    ha = cli("check-ha", "cas-dorm")  # the same words as check-ha's
    assert "an ACME order never names an IP address" in ha.out, ha.out
    assert 'give cas-dorm source = "internal" or "third-party"' in ha.out, ha.out


def test_a_renamed_acme_peer_gets_the_order_and_the_ip_words(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = _pair_file(tmp_path, pebble, hook)
    ok(cli("apply", f))
    write(f, f.read_text().replace("cas-dorm-b.example.org", "cas-dorm-c.example.org"))
    ok(cli("apply", f, "--no-acme"))  # the new order not placed yet
    note = _note(cli, "cas-dorm")
    assert "cas-dorm-c.example.org" in note, note
    assert "`ccapki acme order cas-dorm`) for the other names" in note, note
    assert "an ACME order never names an IP address" in note, note
