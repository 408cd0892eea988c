"""Item 3: ``ccapki plan``: the JSON shape, the text output, and pending actions once a
store exists (issue, nothing, renew, reissue, csr)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ccapki.topology.loader import load_deployment
from ccapki.topology.plan import make_plan
from kit.certs import NOW
from kit.cli import FAQ, CliRunner, deployment, ha_pair, standalone, write

IDENTITY_KEYS = {
    "name",
    "role",
    "ha_pair",
    "installed_on",
    "subject",
    "common_name",
    "san_dns",
    "san_ip",
    "key_type",
    "validity_days",
    "source",
    "channels",
}


def test_plan_json_shape(cli: CliRunner) -> None:
    r = cli("plan", str(FAQ), "--json", home_dir=None)
    assert r.code == 0
    data = json.loads(r.out)
    assert data["deployment"] == "faq-campus"
    assert data["release"] == "4.8.0"
    assert data["certificates_needed"] == 6
    assert data["ha_pairs"] == 4
    assert "pending_actions" not in data  # no store yet
    dep = load_deployment(FAQ)
    for ident, spec in zip(data["identities"], dep.identities, strict=True):
        assert set(ident) == IDENTITY_KEYS
        assert ident["name"] == spec.name
        assert ident["installed_on"] == [m.name for m in spec.members]
        assert ident["key_type"] == spec.key_type.value
        assert ident["source"] == "internal"
        assert ident["validity_days"] == 397  # internal default: inside the 398-day limit
        assert "CN=" + spec.common_name in ident["subject"]
        assert "O=Example University" in ident["subject"]
    by_name = {i["name"]: i for i in data["identities"]}
    assert by_name["cas-guest"]["key_type"] == "ecdsa-p384"
    assert by_name["cas-annex"]["key_type"] == "rsa-2048"
    assert by_name["cam"]["key_type"] == "ecdsa-p256"
    # channels (DESIGN.md): CAM has no agent/web-login; standalone has no heartbeat
    assert by_name["cam"]["channels"] == ["cam-cas", "ha-heartbeat", "admin-gui"]
    assert by_name["cas-dorm"]["channels"] == [
        "cam-cas",
        "ha-heartbeat",
        "agent",
        "web-login",
        "admin-gui",
    ]
    assert by_name["cas-clinic"]["channels"] == ["cam-cas", "agent", "web-login", "admin-gui"]


def test_plan_text_output(cli: CliRunner) -> None:
    r = cli("plan", str(FAQ), home_dir=None)
    assert r.code == 0
    assert "6 certificates needed" in r.out
    assert "10 appliances" in r.out
    assert "4 HA pairs" in r.out
    for spec in load_deployment(FAQ).identities:
        assert spec.name in r.out
        for name in spec.dns_names:
            assert name in r.out
        for ip in spec.ip_addresses:
            assert str(ip) in r.out
        for m in spec.members:
            assert m.name in r.out
    assert "action" not in r.out  # no store: no pending-action column


def test_plan_validity_override(tmp_path: Path) -> None:
    text = deployment(cas=[standalone("cas1", "10.1.0.1") + "validity_days = 200\n"])
    plan = make_plan(load_deployment(write(tmp_path / "d.toml", text)))
    assert [p.validity_days for p in plan.identities] == [397, 200]


def _actions(cli: CliRunner, path: Path, now: dt.datetime = NOW) -> dict[str, dict[str, str]]:
    r = cli("plan", str(path), "--json", now=now)
    assert r.code == 0, r.both
    return {a["identity"]: a for a in json.loads(r.out)["pending_actions"]}


def test_pending_actions_through_the_lifecycle(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        cas=[
            ha_pair("cas1", "10.1.0"),
            standalone("cas2", "10.2.0.1"),
            standalone("cas3", "10.3.0.1", source="third-party"),
        ]
    )
    path = write(tmp_path / "d.toml", text)
    before = _actions(cli, path)
    assert {n: a["action"] for n, a in before.items()} == {
        "cam": "issue",
        "cas1": "issue",
        "cas2": "issue",
        "cas3": "csr",
    }
    text_out = cli("plan", str(path))
    assert "issue" in text_out.out
    assert "csr" in text_out.out
    assert cli("apply", str(path)).code == 0

    after = _actions(cli, path)
    assert {n: a["action"] for n, a in after.items()} == {
        "cam": "nothing",
        "cas1": "nothing",
        "cas2": "nothing",
        "cas3": "csr",  # a third-party identity waits for a CSR; apply never issues it
    }
    assert "397 more days" in after["cam"]["reason"]

    # near expiry: 397-day certificates renew in their last 30 days
    assert _actions(cli, path, NOW + dt.timedelta(days=360))["cam"]["action"] == "nothing"
    late = _actions(cli, path, NOW + dt.timedelta(days=380))
    assert {late[n]["action"] for n in ("cam", "cas1", "cas2")} == {"renew"}
    assert "expires in 17 days" in late["cam"]["reason"]
    gone = _actions(cli, path, NOW + dt.timedelta(days=400))
    assert gone["cam"]["action"] == "renew"
    assert gone["cam"]["reason"] == "expired"

    # the deployment changes: a new SAN on cas2, a new key type for cas1
    changed = write(
        tmp_path / "d2.toml",
        text.replace('ip = "10.2.0.1"', 'ip = ["10.2.0.1", "10.2.1.1"]').replace(
            'name = "cas1"', 'name = "cas1"\nkey = "ecdsa-p384"'
        ),
    )
    acts = _actions(cli, changed)
    assert acts["cam"]["action"] == "nothing"
    assert acts["cas2"]["action"] == "reissue"
    assert "10.2.1.1" in acts["cas2"]["reason"]
    assert acts["cas1"]["action"] == "reissue"
    assert "ecdsa-p384" in acts["cas1"]["reason"]

    # a source change is a reissue too
    moved = write(
        tmp_path / "d3.toml", text.replace('name = "cas2"', 'name = "cas2"\nsource = "perfigo"')
    )
    acts = _actions(cli, moved)
    assert acts["cas2"]["action"] == "reissue"
    assert "source changed from internal to perfigo" in acts["cas2"]["reason"]


def test_plan_without_file_uses_the_stored_deployment(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    r = cli("plan")
    assert r.code == 2
    assert r.err.startswith("error: no deployment file given")
    assert "\nhint: " in r.err
    assert cli("apply", str(path)).code == 0
    r = cli("plan", "--json")
    assert r.code == 0
    assert json.loads(r.out)["certificates_needed"] == 2
