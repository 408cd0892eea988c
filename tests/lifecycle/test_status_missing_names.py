"""``status`` of an identity whose current certificate lacks names the deployment file gives
it (stage ``missing-san``, the code of the trust finding behind it): the pure report, the
notices ``watch`` sends of it, the fix it names by source, and a store whose deployment
versions were kept before their facts held the plan's names (checked all the same)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from sqlalchemy import text

from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.status import (
    UNFIT_STAGE,
    DeploymentFacts,
    build_report,
    new_certificate_step,
)
from ccapki.store.identities import CurrentFact
from ccapki.trust import Code
from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write
from kit.pgmode import store_sql


def _fact(name: str, days: int) -> CurrentFact:
    return CurrentFact(
        name, 1, name[0] * 64, "s" * 64, NOW + dt.timedelta(days=days), "third-party", NOW, NOW
    )


def _facts(days: int) -> DeploymentFacts:
    return DeploymentFacts(
        name="d",
        identities=(_fact("pair", days), _fact("solo", days)),
        appliances={"pair-a": "pair", "pair-b": "pair", "solo": "solo"},
        planned={"pair": "third-party", "solo": "internal"},
        unfit={"pair": "not fit for HA (names ...: missing: pair-c.example.edu): ..."},
        file="site.toml",
    )


def test_the_stage_is_the_trust_finding_s_code_and_warns() -> None:
    assert UNFIT_STAGE == Code.MISSING_SAN
    report = build_report([_facts(200)], NOW)
    by = {i.name: i for i in report.items if i.kind == "identity"}
    assert by["pair"].stage == UNFIT_STAGE
    assert by["pair"].note.startswith("not fit for HA (names ...: missing: pair-c.example.edu)")
    assert "make a new CSR (`ccapki csr pair`)" in by["pair"].note  # site.toml is applied
    assert by["pair"].note.endswith("then install the new one on both peers at once")
    assert by["solo"].stage == "ok"
    assert (report.exit_code, report.nagios_code) == (1, 1)
    assert report.counts()["warning"] == 1
    assert "1 identity whose certificate lacks names" in report.summary()


def test_a_certificate_in_a_warn_stage_keeps_it_and_the_note_says_the_names() -> None:
    report = build_report([_facts(20)], NOW)
    (pair,) = (i for i in report.items if i.name == "pair")
    assert pair.stage == "30"
    assert "missing: pair-c.example.edu" in pair.note
    assert report.exit_code == 1


def test_watch_s_notice_says_the_fix_not_a_day_stage() -> None:
    report = build_report([_facts(200)], NOW)
    (notice,) = expiry_notices(report.items, NOW)
    assert notice.subject == "pair"
    assert notice.stage == UNFIT_STAGE
    assert "missing: pair-c.example.edu" in notice.text
    assert "-day warning" not in notice.text


def test_the_step_by_source() -> None:
    assert new_certificate_step("cas", "internal", "f.toml", ha=False) == (
        "have it reissued (`ccapki apply f.toml`), then install the new one on cas"
    )
    assert "`ccapki acme order cas`" in new_certificate_step("cas", "acme", None, ha=False)
    third = new_certificate_step("pair", "third-party", None, ha=True)
    assert "(`ccapki apply FILE`, then `ccapki csr pair`)" in third
    awaited = new_certificate_step("pair", "third-party", None, ha=True, awaited=True)
    assert "pending CSR" in awaited
    assert "ccapki csr" not in awaited


def test_versions_kept_without_names_in_their_facts_are_checked_too(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    base = Path(FAQ).read_text()
    old = 'virtual_hostname = "cas-dorm.example.edu"'
    base = base.replace(old, f'{old}\nsource = "third-party"')
    ok(cli("apply", write(tmp_path / "d.toml", base)))
    ok(cli("csr", "cas-dorm", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-dorm.csr").read_bytes())
    outside = OutsideCA.make(now=NOW)
    bundle = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "answer.pem", bundle)))
    renamed = base.replace(
        'name = "cas-dorm-b", hostname = "cas-dorm-b.', 'name = "x", hostname = "x.'
    )
    ok(cli("apply", write(tmp_path / "d.toml", renamed)))
    # as an earlier ccapki kept them: facts without the plan's names, or no facts at all
    with store_sql(keyfile_store) as conn:
        conn.execute(text("UPDATE deployments SET facts = NULL"))
    r = cli("status", "--json")
    assert r.code == 1, r.both
    (item,) = (i for i in r.json()["items"] if i["name"] == "cas-dorm")
    assert item["stage"] == UNFIT_STAGE, item
    assert "missing: x.example.edu" in item["note"], item
