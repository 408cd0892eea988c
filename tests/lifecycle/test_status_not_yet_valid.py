"""``ccapki status`` of a certificate that is not valid yet.

A third-party CA dated the certificate ahead and ``import --force`` took it (or a restore
brought it back, or this machine's clock is behind): ``doctor`` reported it as an error
(``not-yet-valid``) while ``status`` called it "ok" with its 700 days left. Status now
reads the row's ``not_before`` column (no certificate parsed) and gives it the stage
``not-yet-valid``, CRITICAL (exit 1; --nagios 2), in doctor's words, with doctor's fix.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.status import (
    EARLY_STAGE,
    DeploymentFacts,
    build_report,
    not_yet_valid_words,
)
from ccapki.lifecycle.status_pages import item_classes
from ccapki.store.identities import CurrentFact
from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, ok, write

START = NOW + dt.timedelta(days=3)  # the date the outside CA put in notBefore
CLOCK = "its CA dated it ahead, or this machine's clock is behind"
CSR_FIX = "have the CA issue a new one now (`ccapki csr cas1`, then `ccapki import` what"


def _dated_ahead(cli: Cli, tmp_path: Path, outside: OutsideCA) -> None:
    """cas1 (third-party) imported with --force: its CA dated it 3 days ahead."""
    body = 'name = "cas1"\nhostname = "cas1.example.org"\nip = "10.1.0.1"\n'
    f = write(tmp_path / "d.toml", deployment(cas=[body + 'source = "third-party"\n']))
    ok(cli("apply", f))
    ok(cli("csr", "cas1", "--out", tmp_path / "c1"))
    csr = x509.load_pem_x509_csr((tmp_path / "c1" / "cas1.csr").read_bytes())
    cert = outside.sign_csr(csr, not_before=START)
    answer = write(tmp_path / "a1.pem", b"".join(pem(c) for c in (cert, *outside.chain)))
    ok(cli("import", answer, "--force"))
    ok(cli("trust", "apply"))


def test_status_says_a_certificate_dated_ahead_is_not_valid_yet(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    _dated_ahead(cli, tmp_path, outside)
    doctor = cli("doctor", "--json")
    found = {p["subject"]: p for p in doctor.json()["problems"] if p["code"] == "not-yet-valid"}
    assert set(found) == {"cas1 v1"}, found

    r = cli("status", "--json")
    assert r.code == 1, r.both
    items = {i["name"]: i for i in r.json()["items"] if i["kind"] == "identity"}
    cas1 = items["cas1"]
    assert cas1["stage"] == EARLY_STAGE == "not-yet-valid", cas1
    # doctor's words and fix, word for word
    assert found["cas1 v1"]["message"] in cas1["note"], cas1["note"]
    assert found["cas1 v1"]["fix"] in cas1["note"], cas1["note"]
    assert f"not valid until {START:%Y-%m-%d %H:%M} UTC ({CLOCK})" in cas1["note"]
    assert CSR_FIX in cas1["note"]
    assert items["cam"]["stage"] == "ok"  # valid since before NOW
    assert r.json()["counts"]["not_yet_valid"] == 1
    assert r.json()["nagios_code"] == 2

    table = cli("status")
    assert table.code == 1, table.both
    row = next(line for line in table.out.splitlines() if " cas1 " in line)
    assert row.startswith("NOT-YET-VALID"), table.out
    assert CLOCK in table.out
    assert "1 not valid yet" in table.out, table.out
    assert "fine, none within" not in table.out, table.out

    nagios = cli("status", "--nagios")
    assert nagios.code == 2, nagios.both
    first, *details = nagios.out.splitlines()
    assert first.startswith("CCAPKI CRITICAL - "), first
    assert "not_yet_valid=1" in first, first
    assert any(d.startswith("identity cas1: ") and CLOCK in d for d in details), details

    # once the day comes, it is an ordinary certificate again
    later = cli("status", "--json", now=START + dt.timedelta(minutes=1))
    assert later.code == 0, later.both
    assert {i["stage"] for i in later.json()["items"] if i["kind"] == "identity"} == {"ok"}


def _fact(name: str, source: str, not_before: dt.datetime) -> CurrentFact:
    return CurrentFact(
        name, 1, name * 8, "spki-" + name, NOW + dt.timedelta(days=700), source, NOW,
        not_before,
    )  # fmt: skip


def test_the_pure_report_and_what_maps_its_stages() -> None:
    """From the columns alone: the stage, the counts watch takes, the notice, the page
    filter's classes; the internal CAM's fix is apply's, an ACME one's is its order."""
    facts = DeploymentFacts(
        name="d",
        identities=(
            _fact("cam", "internal", START),
            _fact("cas1", "third-party", START),
            _fact("cas2", "third-party", NOW - dt.timedelta(days=1)),
            _fact("cas3", "third-party", START),
        ),
        planned={"cam": "internal", "cas1": "third-party", "cas2": "third-party", "cas3": "acme"},
    )
    report = build_report([facts], NOW)
    by = {i.name: i for i in report.items}
    assert {n: i.stage for n, i in by.items()} == {
        "cam": EARLY_STAGE,
        "cas1": EARLY_STAGE,
        "cas2": "ok",
        "cas3": EARLY_STAGE,
    }
    assert by["cas2"].days_left == 700
    assert "the issuing clock was ahead" in by["cam"].note
    assert "`ccapki apply FILE` reissues it" in by["cam"].note
    assert "order a new one now (`ccapki acme order cas3`)" in by["cas3"].note
    n = report.counts()
    assert (n["not_yet_valid"], n["warning"], n["ok"]) == (3, 0, 1)
    assert (report.exit_code, report.nagios_code) == (1, 2)
    # watch counts these among its warnings (as its `status_counts`)
    from ccapki.lifecycle.watch import _status_counts

    counts = _status_counts(report.items, NOW)
    assert counts["not_yet_valid"] == 3
    assert counts["exit_code"] == 1
    notices = {x.subject: x for x in expiry_notices(report.items, NOW)}
    assert set(notices) == {"cam", "cas1", "cas3"}
    assert "identity cas1 is not valid yet [the current certificate is not valid until" in (
        notices["cas1"].text
    ), notices["cas1"].text
    assert "critical" in item_classes(by["cas1"])


def test_doctor_and_status_share_the_words() -> None:
    said, fix = not_yet_valid_words("cas1", START, outside=True, deployment="east")
    assert said == (
        f"the current certificate is not valid until {START:%Y-%m-%d %H:%M} UTC ({CLOCK})"
    )
    assert "`ccapki --deployment east csr cas1`" in fix
