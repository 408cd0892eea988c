"""Issue 12 item 4: ``ccapki watch`` probing a running lab (real TLS on 127.0.0.1), on the
machine's clock: every endpoint expected and no notification; then an HA secondary is
given a certificate the store does not hold (drift, as an admin installing one by hand):
the next run notifies it once by the signed webhook, and the run after that does not.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ccapki.lab import EndpointMaterial
from ccapki.lab.daemon import request_reload
from ccapki.lifecycle.labspec import build_spec
from ccapki.store import Store
from ccapki.topology.loader import parse_deployment
from kit.cli import Cli, ok
from kit.lab import LabFactory
from kit.receivers import WebhookReceiver

from .test_break_fix import _fresh_identity_like

SECRET = "lab-hook-secret"


def test_watch_probes_the_lab_and_notifies_drift_once(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab()
    env: dict[str, str | None] = {"HOOK_SECRET": SECRET}
    with WebhookReceiver(SECRET) as hook:
        text = lab.deployment.read_text()
        text += f'\n[notify]\nwebhook = "{hook.url}"\nwebhook_secret_env = "HOOK_SECRET"\n'
        lab.deployment.write_text(text)
        ok(cli("apply", lab.deployment, home_dir=lab.home))

        run = ok(cli("watch", "--once", "--json", home_dir=lab.home, env=env)).json()["runs"][0]
        assert run["ok"] is True, run
        assert run["probed"] > 0
        assert run["drift"] == 0
        assert run["notifications"] == []
        assert hook.posts == []

        with Store.open(lab.home, passphrase=lambda: "") as store:
            kept = store.deployments.latest()
            assert kept is not None
            spec = build_spec(store, parse_deployment(kept.text, "stored"), link_interval=1)
        chain_pem, key_pem = _fresh_identity_like(lab.home, "cas-ha")
        apps = tuple(
            dataclasses.replace(
                a, identity=EndpointMaterial(chain_pem, key_pem, a.identity.trust_pem)
            )
            if a.name == "cas-ha-b"
            else a
            for a in spec.appliances
        )
        state = request_reload(lab.state_dir, dataclasses.replace(spec, appliances=apps))
        assert state.last_error is None

        run = ok(cli("watch", "--once", "--json", home_dir=lab.home, env=env)).json()["runs"][0]
        assert run["ok"] is True, run
        assert run["drift"] == 1
        [note] = run["notifications"]
        assert (note["event"], note["subject"], note["result"]) == ("drift", "cas-ha-b", "sent")
        assert note["stage"] in ("unknown", "ha-mismatch")
        [body] = hook.payloads()  # signed right
        assert body["subject"] == "cas-ha-b"
        assert body["event"] == "drift"
        assert body["endpoints"]  # the endpoints that presented it

        run = ok(cli("watch", "--once", "--json", home_dir=lab.home, env=env)).json()["runs"][0]
        assert [n["result"] for n in run["notifications"]] == ["sent before"]
        assert len(hook.posts) == 1
