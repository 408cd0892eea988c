"""A year of operations (walkthrough X): what ``status`` and ``renew`` say ahead of a
renewal. The FAQ deployment is applied at the fixed clock (internal identities for 397
days); ``CCAPKI_NOW`` moves the clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kit.certs import NOW, OutsideCA
from kit.cli import FAQ, CliRunner, ok, third_party_cas1, write


@pytest.fixture
def faq(cli: CliRunner, home: Path) -> Path:
    """A key-file store with the FAQ deployment applied at the fixed clock."""
    ok(cli("init", "--key-file"))
    ok(cli("apply", FAQ))
    return home


def _next(out: str) -> list[str]:
    return [ln.removeprefix("next: ") for ln in out.splitlines() if ln.startswith("next: ")]


def test_renew_commit_names_trust_additions_only_when_there_are_some(
    cli: CliRunner, faq: Path
) -> None:
    later = NOW + dt.timedelta(days=10)
    r = ok(cli("renew", "cas-dorm", "--commit", now=later))
    assert "trust stores: nothing to add" in r.out, r.out
    steps = _next(r.out)
    install = [s for s in steps if s.startswith("install on the appliances")]
    assert install == [
        "install on the appliances: each renewed identity (`ccapki export NAME`; both peers "
        "of an HA pair at once)"
    ], r.out
    assert "trust-store additions" not in r.out


def _cas(cli: CliRunner, when: dt.datetime) -> dict[str, dict[str, object]]:
    js = cli("status", "--json", now=when).json()
    items = js["items"] if "items" in js else js["deployments"][0]["items"]
    return {i["name"]: i for i in items if i["kind"] == "ca"}


def test_status_warns_of_a_ca_rollover_exactly_when_renew_would_roll_it(
    cli: CliRunner, faq: Path
) -> None:
    """The Appliance CA showed "ok 363 days" while `renew --due` planned its G2 successor
    (a CA must outlive the 397-day leaves it signs); the root showed ok until 60 days left
    while the renewal 397 days before its end made a new root every client must install."""
    cas = _cas(cli, NOW)
    ca_name, root_name = (
        "Example University Clean Access Appliance CA",
        "Example University Clean Access Root CA",
    )
    ca_end = dt.datetime.fromisoformat(str(cas[ca_name]["not_after"]))
    root_end = dt.datetime.fromisoformat(str(cas[root_name]["not_after"]))
    for left, rolls in ((398, False), (397, False), (363, True)):
        when = ca_end - dt.timedelta(days=left)
        ca = _cas(cli, when)[ca_name]
        plan = cli("renew", "--due", now=when).out
        assert ("make a new issuer: " in plan) is rolls, (left, plan)
        if not rolls:
            assert ca["stage"] == "ok", ca
            continue
        assert f"make a new issuer: {ca_name} G2" in plan, plan
        assert ca["stage"] == "rollover", ca
        note = str(ca["note"])
        assert "before certificates renewed now would" in note, note
        assert f"makes a successor, {ca_name} G2" in note, note
        assert "`ccapki renew --due`" in note, note
        assert "export-roots" not in note, note
        r = cli("status", now=when)
        assert r.code == 1, r.out
        assert "1 CA to roll over at the next renewal" in r.out, r.out
        assert "rollover" in r.out, r.out
    when = root_end - dt.timedelta(days=363)  # 60 days before its first warning stage
    root = _cas(cli, when)[root_name]
    assert root["stage"] == "rollover", root
    note = str(root["note"])
    assert f"makes a successor, {root_name} G2, a new root every client" in note, note
    assert "`ccapki export-roots`" in note, note
    assert f"make a new issuer: {root_name} G2" in cli("renew", "--due", now=when).out
    # watch and its notifications judge the stages as status does
    from ccapki.lifecycle.notify import expiry_notices
    from ccapki.lifecycle.status import estate_status
    from ccapki.store import Store

    with Store.open(faq, clock=lambda: when) as store:
        report = estate_status(store, now=when)
    (notice,) = [n for n in expiry_notices(report.items, when) if n.subject == root_name]
    assert notice.stage == "rollover"
    assert "`ccapki export-roots`" in notice.text, notice.text


def test_a_third_party_renewal_is_due_when_status_first_warns_and_a_stale_csr_is_renewed(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """`status` warned of a third-party certificate at 60 days while `renew --due` listed
    it only from 30 (a CA's answer takes time); and `renew --due` skipped one whose pending
    CSR was made for an older deployment file."""
    f = third_party_cas1(cli, tmp_path, outside)
    js = cli("status", "--json").json()
    items = js["items"] if "items" in js else js["deployments"][0]["items"]
    (cas1,) = [i for i in items if i["kind"] == "identity" and i["name"] == "cas1"]
    end = dt.datetime.fromisoformat(cas1["not_after"])
    before = end - dt.timedelta(days=61, hours=1)  # 61 days left: no warning yet
    assert "2. renew cas1" not in cli("renew", "--due", now=before).out
    warned = end - dt.timedelta(days=45)  # status: <=60d; renewal window: 30 days
    st = cli("status", now=warned)
    assert "<=60d" in st.out, st.out
    step = "next: make its CSR and send it to the CA (`ccapki renew --due --commit`, or"
    assert step in " ".join(st.out.split()), st.out
    plan = cli("renew", "--due", now=warned).out
    assert "2. renew cas1" in plan, plan
    assert "in its warning stage, the CSR goes to the CA now" in plan, plan
    # the CSR made, status and renew wait for the CA's answer
    ok(cli("renew", "--due", "--commit", "--out", tmp_path / "c2", now=warned))
    assert "next: make its CSR" not in " ".join(cli("status", now=warned).out.split())
    assert "awaits the CA's certificate" in cli("renew", "--due", now=warned).out
    # the deployment file changes the key type: the pending CSR is stale, renewed again
    changed = f.read_text().replace('key = "ecdsa-p256"', 'key = "rsa-2048"')
    ok(cli("apply", write(f, changed), now=warned))
    plan = cli("renew", "--due", now=warned).out
    assert "2. renew cas1" in plan, plan
    assert "awaits the CA's certificate" not in plan, plan
    assert "is stale: made for an older version of the deployment file" in plan, plan
