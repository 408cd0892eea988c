"""Walkthrough U: ``check-ha`` of an ACME HA pair (docs/acme.md's setup: a CAS pair with
``source = "acme"``) finds the pair's IP addresses missing from its certificate, as it must
(an ACME order names DNS names only: DNS-01 cannot prove an IP, and public CAs do not
issue them). Its fix said "order a new one from the ACME CA (`ccapki acme order
cas-dorm`)", which orders a certificate lacking the same IPs: a loop. It now says that no
order can name them, and what can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acme_servers import Pebble

from kit.cli import Cli, ok, write

pytestmark = pytest.mark.integration


def _pair_file(folder: Path, pebble: Pebble, hook: Path) -> Path:
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


def test_check_ha_of_an_acme_pair_does_not_send_to_an_order_that_lacks_the_ips(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    ok(cli("apply", _pair_file(tmp_path, pebble, hook)))
    r = cli("check-ha", "cas-dorm")
    assert r.code == 1, r.both  # the IPs are missing: a finding
    assert "10.20.0.10" in r.both, r.both
    assert "`ccapki acme order cas-dorm`" not in r.both, r.both
    assert "an ACME order never names an IP address" in r.both, r.both
