"""Walkthrough 22, items 1 and 2: a true self-signed identity (CCA 4.7+) is also the root its
peers trust. ``status`` shows it on one row (the identity's, saying so), ``watch`` sends one
notification per stage for it (not a second one for "trust-store root" of the same
certificate), and ``watch``'s summary counts what ``status`` counts (its ``counts()``), as do
``status --json`` and ``--nagios``'s performance data."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from kit.certs import NOW
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write
from kit.receivers import WebhookReceiver

DAY = dt.timedelta(days=1)
SECRET = "hook-secret"


def _file(tmp_path: Path, release: str, notify: str = "") -> Path:
    text = deployment(
        name="old-campus",
        release=release,
        source="self-signed",
        cam=ha_pair("cam", "10.0.0"),
        cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1", source="internal")],
    )
    return write(tmp_path / "d.toml", text + "\n[monitoring]\nwarn_days = [75, 20]\n" + notify)


@pytest.mark.parametrize("release", ["4.7.2", "4.9"])
def test_a_self_signed_identity_is_one_row_naming_its_trust(
    cli: Cli, keyfile_store: Path, tmp_path: Path, release: str
) -> None:
    ok(cli("apply", _file(tmp_path, release)))
    data = ok(cli("status", "--json")).json()
    ids = {i["name"]: i for i in data["items"] if i["kind"] == "identity"}
    own = {ids["cam"]["fingerprint"], ids["cas1"]["fingerprint"]}
    # --json keeps each appliance's trust entry, saying it is the identity's row's
    held = [i for i in data["items"] if i["kind"] == "trust-root" and i["fingerprint"] in own]
    assert len(held) == 6  # cam's on cam-a, cam-b, cas1, cas2; cas1's on cam-a, cam-b
    assert all("reported on its identity's row" in i["note"] for i in held)
    rows = len({(i["kind"], i["fingerprint"]) for i in data["items"] if i not in held})
    assert data["counts"]["items"] == rows
    assert "also the root its peers and clients trust" in ids["cam"]["note"]
    assert "cam-a, cam-b, cas1, cas2" in ids["cam"]["note"]
    assert "2 appliances: cam-a, cam-b" in ids["cas1"]["note"]
    assert "also the root" not in ids["cas2"]["note"]  # internal: its CA is the root
    r = cli("status")
    rows = [x for x in r.out.splitlines() if x.strip() and not x.startswith(" ")]
    for name in ("cam", "cas1"):
        fp = ids[name]["fingerprint"]
        mentions = [x for x in rows if f" {name} " in x or fp[:12] in x]
        assert len(mentions) == 1, rows
    assert "also the root its peers and clients trust" in r.out


def _perf(line: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.partition("|")[2])}


def test_watch_notifies_a_self_signed_identity_once_and_counts_as_status(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    notify = '\n[notify]\nwebhook = "{url}"\nwebhook_secret_env = "HOOK_SECRET"\n'
    with WebhookReceiver(SECRET) as hook:
        ok(cli("apply", _file(tmp_path, "4.7.2", notify.format(url=hook.url))))
        when = NOW + 80 * DAY  # within 20 days of the 90-day certificates
        env = {"HOOK_SECRET": SECRET}
        r = ok(cli("watch", "--once", "--no-probe", now=when, env=env))
        bodies = hook.payloads()
        subjects = sorted(b["subject"] for b in bodies)
        # each certificate once: the two self-signed identities, the internal cas2, its CA(s)
        assert len(subjects) == len(set(subjects)), subjects
        assert not [s for s in subjects if s.startswith("trust root")], subjects
        assert {"cam", "cas1"} <= set(subjects)
        fps = [b["fingerprint"] for b in bodies]
        assert len(fps) == len(set(fps)), bodies

        status = cli("status", "--json", now=when).json()
        counts = status["counts"]
        warnings = counts["expired"] + counts["warning"] + counts["missing"] + counts["damaged"]
        assert f"{counts['ok']} certificates fine, {warnings} in a warning stage" in r.out, r.out
        run = ok(cli("watch", "--once", "--no-probe", "--json", now=when, env=env)).json()
        assert run["runs"][0]["certificates"] == counts["items"]
        assert run["runs"][0]["warnings"] == warnings
        nagios = cli("status", "--nagios", now=when)
        perf = _perf(nagios.out.splitlines()[0])
        for key in ("expired", "warning", "ok", "pending", "missing", "temporary"):
            assert perf[key] == counts[key], (key, nagios.out, counts)
        plain = cli("status", now=when).out.splitlines()[-1]
        if counts["temporary"]:
            assert f"{counts['temporary']} temporary" in plain
        else:  # ccapki issued them: none is the release's temporary one
            assert "temporary" not in plain


def test_the_service_counts_as_status_json(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from ccapki.service.app import create_app
    from ccapki.store import Store
    from kit.service import add_users, config_for, running

    ok(cli("apply", _file(tmp_path, "4.7.2")))
    counts = ok(cli("status", "--json")).json()["counts"]
    with Store.open(keyfile_store, clock=lambda: NOW) as store:
        tokens = add_users(store)
    with running(create_app(config_for(keyfile_store))) as url:
        auth = {"Authorization": f"Bearer {tokens['viewer']}"}
        page = httpx.get(f"{url}/api/v1/status", headers=auth, timeout=60).json()
    assert page["counts"] == counts
    # the self-signed identities once each, not again as trust-store roots
    ids = {i["fingerprint"] for i in page["items"] if i["kind"] == "identity"}
    rows = {(i["kind"], i["fingerprint"]) for i in page["items"] if i["fingerprint"] not in ids}
    assert counts["items"] == len(ids) + len(rows)
