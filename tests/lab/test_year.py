"""Issue 12 item 5: the whole loop through a year, on a running lab.

The deployment is issued a year in the past (``CCAPKI_NOW`` with the suites' write opt-in),
so its certificates expire five days from now: every step of the walk up to now is a real
time for the lab's TLS stacks. The clock then walks through the year: ``watch --once``
(probing the lab, judging expiry at that date) warns each identity at its 60-, 30- and
7-day stages, each once, however many runs fall in a stage; ``status`` says the same. Then,
on the machine's clock: ``renew --due --commit`` renews every identity, ``lab reload``
serves the renewals, ``verify --live`` proves every channel, ``probe`` sees the new
versions, and the next ``watch`` sends nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kit.cli import Cli, ok
from kit.lab import LabFactory, assert_all_pass
from kit.receivers import WebhookReceiver

SECRET = "year-hook-secret"
IDENTITIES = {"cam", "cas-ha", "cas-solo"}
VALIDITY = 397  # internal certificates' default lifetime


def test_a_year_warned_renewed_reloaded_and_proven_live(
    cli: Cli, make_lab: LabFactory, tmp_path: Path
) -> None:
    real = dt.datetime.now(dt.UTC)
    issued = real - dt.timedelta(days=VALIDITY - 5)
    lab = make_lab(apply_now=issued, up=False)
    env: dict[str, str | None] = {"HOOK_SECRET": SECRET}
    moved = {**env, "CCAPKI_NOW_ALLOW_WRITES": "1"}  # watch writes its notification state
    with WebhookReceiver(SECRET) as hook:
        text = lab.deployment.read_text(encoding="utf-8")
        text += f'\n[notify]\nwebhook = "{hook.url}"\nwebhook_secret_env = "HOOK_SECRET"\n'
        lab.deployment.write_text(text, encoding="utf-8")
        applied = ok(cli("apply", lab.deployment, home_dir=lab.home, now=issued, env=moved))
        assert "v2" not in applied.out  # the [notify] table alone reissues nothing
        ok(cli("lab", "up", "--interval", "1", home_dir=lab.home))

        items = ok(cli("status", "--json", home_dir=lab.home, now=issued)).json()["items"]
        expiry = {
            i["name"]: dt.datetime.fromisoformat(i["not_after"])
            for i in items
            if i["kind"] == "identity"
        }
        assert set(expiry) == IDENTITIES
        ends = max(expiry.values())
        assert real < min(expiry.values())  # still valid now: the lab's stacks accept them

        # (days before expiry, the stage every identity is in then)
        walk = [(300, "ok"), (61.5, "ok"), (59.5, "60"), (45, "60"), (29.5, "30"),
                (20, "30"), (12, "30"), (6.5, "7"), (6, "7")]  # fmt: skip
        for before, stage in walk:
            when = ends - dt.timedelta(days=before)
            assert when <= dt.datetime.now(dt.UTC)  # a real time for the lab's stacks
            run = ok(cli("watch", "--once", "--json", home_dir=lab.home, now=when, env=moved))
            [doc] = run.json()["runs"]
            assert doc["ok"] is True, doc
            assert doc["probed"] > 0, doc
            assert doc["drift"] == 0, doc
            shown = cli("status", "--json", home_dir=lab.home, now=when)
            stages = {
                i["name"]: i["stage"] for i in shown.json()["items"] if i["kind"] == "identity"
            }
            assert stages == dict.fromkeys(IDENTITIES, stage), (before, stages)
            assert shown.code == (0 if stage == "ok" else 1)

        bodies = hook.payloads()  # each signed right
        told = sorted((b["subject"], b["stage"]) for b in bodies)
        assert told == sorted((n, s) for n in IDENTITIES for s in ("60", "30", "7"))
        assert {b["event"] for b in bodies} == {"expiry"}
        keys = [(b["subject"], b["stage"], b["fingerprint"]) for b in bodies]
        assert len(keys) == len(set(keys))  # nothing twice

        # now, on the machine's clock: renew, reload, prove
        plan = cli("renew", "--due", "--json", home_dir=lab.home).json()
        assert {i["identity"] for i in plan["items"]} == IDENTITIES
        ok(cli("renew", "--due", "--commit", home_dir=lab.home))
        ok(cli("lab", "reload", home_dir=lab.home))
        assert_all_pass(*lab.verify(cli))
        probed = ok(cli("probe", "--json", home_dir=lab.home)).json()
        assert {e["verdict"] for r in probed["runs"] for e in r["endpoints"]} == {"expected"}
        assert {e["version"] for r in probed["runs"] for e in r["endpoints"]} == {2}
        shown = ok(cli("status", "--json", home_dir=lab.home)).json()["items"]
        assert {i["stage"] for i in shown if i["kind"] == "identity"} == {"ok"}

        run = ok(cli("watch", "--once", "--json", home_dir=lab.home, env=env)).json()["runs"][0]
        assert run["ok"] is True
        assert run["notifications"] == []
        assert len(hook.posts) == len(bodies)  # nothing more
