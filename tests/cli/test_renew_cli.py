"""Issue 12 items 2 and 5: ``ccapki renew`` on the FAQ deployment.

The FAQ's six identities (one CAM HA pair, three CAS HA pairs, two standalone CAS) are
issued at the fixed clock for 397 days; ``CCAPKI_NOW`` 380 days later puts all six inside
their 30-day renewal window. The dry run honours that what-if clock and changes nothing;
``--commit`` refuses it unless the suite's test-only opt-in is set.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ccapki.store import Store
from kit.certs import NOW
from kit.cli import FAQ, CliRunner, db_bytes, error_with_hint, ok

#: the FAQ's identities in the deployment's order (an HA pair is one identity)
IDENTITIES = ("cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex")
LATER = NOW + dt.timedelta(days=380)  # 17 days left of 397: inside the 30-day window
DRY_RUN = "dry run: nothing changed; run again with --commit"


@pytest.fixture
def faq(cli: CliRunner, home: Path) -> Path:
    """A key-file store with the FAQ deployment applied at the fixed clock."""
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    return home


def versions(home: Path) -> dict[str, tuple[int, str, str]]:
    """identity -> (version, certificate fingerprint, key SPKI) of the current versions."""
    with Store.open(home, clock=lambda: NOW) as store:
        return {
            n: (i.version, i.fingerprint, i.spki) for n, i in store.identities.current().items()
        }


def renew_lines(out: str) -> list[str]:
    """The identities of the plan's ``renew NAME`` steps, in order."""
    return [ln.split()[2] for ln in out.splitlines() if ln.strip().startswith("2. renew ")]


def test_dry_run_on_a_what_if_date_lists_the_due_in_order_and_changes_nothing(
    cli: CliRunner, faq: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCAPKI_NOW_ALLOW_WRITES")  # a what-if clock: the dry run honours it
    before, raw = versions(faq), db_bytes(faq)
    today = ok(cli("renew", "--due"))
    assert "nothing to renew in faq-campus on 2026-11-27" in today.out
    assert "the next renewal window opens for cam on" in today.out
    r = ok(cli("renew", "--due", now=LATER))
    assert renew_lines(r.out) == list(IDENTITIES)  # each HA pair once, in the file's order
    assert "would renew 6 identities (key policy: rotate)" in r.out
    assert "renew cam (HA pair: cam-a and cam-b at once): internal, expires on" in r.out
    assert "in 17 days" in r.out
    assert r.out.rstrip().endswith(DRY_RUN)
    # the safe order: trust-store additions, then identities, then retiring
    orders = [int(ln.split(".")[0]) for ln in r.out.splitlines() if ln[:4].strip()[:1].isdigit()]
    assert orders == sorted(orders)
    assert set(orders) == {1, 2, 3}
    js = ok(cli("renew", "--due", "--json", now=LATER)).json()
    assert js["dry_run"] is True
    assert [i["identity"] for i in js["items"]] == list(IDENTITIES)
    assert all(i["due"] and i["action"] == "reissue" for i in js["items"])
    assert js["items"][0]["installed_on"] == ["cam-a", "cam-b"]
    assert next(s["phase"] for s in js["steps"]) == "trust"
    assert js["steps"][-1]["phase"] == "retire"
    assert versions(faq) == before
    assert db_bytes(faq) == raw


def test_commit_refuses_the_what_if_clock(
    cli: CliRunner, faq: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCAPKI_NOW_ALLOW_WRITES")
    raw = db_bytes(faq)
    r = error_with_hint(cli("renew", "--due", "--commit", now=LATER))
    assert "`ccapki renew --commit` writes, and CCAPKI_NOW=" in r.err
    assert "nothing was written" in r.err
    assert db_bytes(faq) == raw


def test_commit_reissues_the_due_as_new_versions_ha_pair_once(cli: CliRunner, faq: Path) -> None:
    before = versions(faq)
    r = ok(cli("renew", "--due", "--commit", now=LATER))
    assert DRY_RUN not in r.out
    for name in IDENTITIES:
        assert f"renewed {name} v2 (was v1; expires 2029-" in r.out, r.out
    assert "next: `ccapki verify --live`" in r.out
    after = versions(faq)
    assert set(after) == set(IDENTITIES)  # no identity per HA peer
    for name in IDENTITIES:
        assert after[name][0] == 2
        assert after[name][1] != before[name][1]
        assert after[name][2] != before[name][2]  # rotate (the default): a new key
    with Store.open(faq, clock=lambda: LATER) as store:
        assert [len(store.identities.history(n)) for n in IDENTITIES] == [2] * 6
        renewals = [e for e in store.audit.log(200) if e.action == "renew"]
    assert sorted(e.subject for e in renewals) == sorted(IDENTITIES)
    assert all(e.detail["key"] == "new" and e.detail["version"] == 2 for e in renewals)
    # renewed: nothing is due any more, and every channel passes on that date
    again = ok(cli("renew", "--due", "--commit", now=LATER))
    assert "nothing to renew in faq-campus" in again.out
    assert versions(faq) == after
    assert ok(cli("trust", "check", now=LATER)).out.rstrip().endswith("all pass")
    # apply agrees: nothing left to do on that date
    assert "nothing to do" in ok(cli("apply", FAQ, "--dry-run", now=LATER)).out


def test_a_named_identity_not_due_is_renewed_alone(cli: CliRunner, faq: Path) -> None:
    before = versions(faq)
    r = ok(cli("renew", "cas-dorm-b", "cas-dorm", "--commit"))  # a peer names its pair
    assert renew_lines(r.out) == ["cas-dorm"]
    assert "not due (expires on 2027-12-29, in 397 days): renewed as named" in r.out
    after = versions(faq)
    assert after["cas-dorm"][0] == 2
    assert {n: v for n, v in after.items() if n != "cas-dorm"} == {
        n: v for n, v in before.items() if n != "cas-dorm"
    }
    js = ok(cli("renew", "cam", "--json")).json()
    assert [(i["identity"], i["due"]) for i in js["items"]] == [("cam", False)]
    assert "result" not in js
    done = ok(cli("renew", "cam", "--commit", "--json")).json()
    assert done["dry_run"] is False
    renewed = done["result"]["renewed"]
    assert [(x["identity"], x["version"], x["previous_version"]) for x in renewed] == [
        ("cam", 2, 1)
    ]
    assert renewed[0]["fingerprint"] == versions(faq)["cam"][1]
    assert renewed[0]["same_key"] is False
    assert done["csr_files"] == []
    assert any("verify --live" in step for step in done["next"])


def test_bad_input_is_refused_with_a_hint(cli: CliRunner, faq: Path) -> None:
    raw = db_bytes(faq)
    r = error_with_hint(cli("renew"))
    assert "name identities or pass --due" in r.err
    assert "`ccapki renew --due`" in r.err
    r = error_with_hint(cli("renew", "cam", "cas-nowhere", "--commit"))
    assert "no identity or appliance named 'cas-nowhere'" in r.err
    hint = r.err.split("hint: ", 1)[1]
    for name in (*IDENTITIES, "cam-a", "cas-dorm-b", "cas-annex"):
        assert name in hint
    assert db_bytes(faq) == raw


def test_without_a_store(cli: CliRunner) -> None:
    r = error_with_hint(cli("renew", "--due"))
    from kit.pgmode import BACKEND

    assert "init`" in r.err
    if BACKEND != "postgresql":  # (a database URL names its own store)
        assert "`ccapki --home " in r.err.split("hint:")[1]
