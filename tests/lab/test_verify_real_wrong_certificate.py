"""Walkthrough E (the FAQ's temporary certificate): a real appliance still serving the
install-time temporary certificate, not the store's identity. ``verify --live --target
deployment`` reported it with the lab's fix, "`ccapki lab reload`, or install the store's
identity": there is no lab there, and reloading one changes nothing on a real appliance.
The fix for a real appliance is to install the store's identity on it (``ccapki export``);
the lab keeps its own hint.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kit.certs import key_pem, mint, pem, utcnow
from kit.cli import Cli, deployment, ok, standalone, write
from kit.endpoints import EndpointHost, Tls


def test_real_appliance_serving_another_certificate_gets_the_install_fix(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    # the CAS's own install-time certificate (true self-signed, 90 days as on 4.7.2)
    temporary = mint("10.8.0.1", san=["10.8.0.1"], days=90, now=utcnow() - dt.timedelta(days=1))
    with EndpointHost() as host:
        gui = host.add(Tls(pem(temporary.cert), key_pem(temporary.key)))
        cas = standalone("cas-real", "10.8.0.1") + f'endpoints = {{ gui = "{gui}" }}\n'
        text = deployment(name="walke", release="4.7.2", source="self-signed", cas=[cas])
        ok(cli("apply", write(tmp_path / "walke.toml", text)))
        r = cli("verify", "--live", "--target", "deployment", "--json")
        assert r.code == 1, r.both  # a finding, not a disagreement
        doc = r.json()
        (cell,) = (
            c for c in doc["cells"] if (c["appliance"], c["channel"]) == ("cas-real", "admin-gui")
        )
        assert cell["live"] == "fail", cell
        assert cell["compared"] is False, cell
        (error,) = cell["live_errors"]
        assert "serves certificate" in error, error
        assert "lab reload" not in error, error
        assert "`ccapki export cas-real`" in error, error
