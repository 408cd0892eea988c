"""The ``missing-san`` note of ``ccapki status`` (and ``check-ha``'s fix) said "`ccapki
apply FILE`" though FILE is the deployment file the store applied (status reads the names
from it): it now says only the steps left, a new CSR for a third-party identity, a renewal
for one ccapki issues. An ACME identity lacking an IP address is told no order can name it
(the words ``check-ha`` gives, :func:`acme_ip_words`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from ccapki.lifecycle.status import DeploymentFacts, build_report, new_certificate_step
from ccapki.store.identities import CurrentFact
from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write


def _fact(name: str, source: str) -> CurrentFact:
    return CurrentFact(
        name, 1, name[0] * 64, "s" * 64, NOW + dt.timedelta(days=200), source, NOW, NOW
    )


def _note(source: str, missing: tuple[str, ...]) -> str:
    facts = DeploymentFacts(
        name="d",
        identities=(_fact("solo", "internal"),),
        appliances={"solo": "solo"},
        planned={"solo": source},
        unfit={"solo": f"solo lacks {', '.join(missing)} in its subjectAltName"},
        unfit_names={"solo": missing},
        file="site.toml",
    )
    (item,) = build_report([facts], NOW).items
    assert item.stage == "missing-san", item
    return item.note


def test_the_applied_file_is_not_applied_again() -> None:
    third = _note("third-party", ("solo.example.edu",))
    assert "ccapki apply" not in third, third
    assert "make a new CSR (`ccapki csr solo`) and import the CA's answer" in third, third
    internal = _note("internal", ("solo.example.edu",))
    assert "ccapki apply" not in internal, internal
    assert "have it reissued (`ccapki renew solo --commit`)" in internal, internal
    # a file not applied yet (the default) still says apply first
    assert "`ccapki apply f.toml`, then `ccapki csr solo`" in new_certificate_step(
        "solo", "third-party", "f.toml", ha=False
    )


def test_an_acme_identity_lacking_an_ip_is_not_sent_to_an_order() -> None:
    note = _note("acme", ("10.0.0.7",))
    assert "ccapki acme order" not in note, note
    assert "an ACME order never names an IP address" in note, note
    assert 'give solo source = "internal" or "third-party"' in note, note
    assert "`ccapki apply site.toml`" in note, note  # the file changed: applied again
    both = _note("acme", ("solo.example.edu", "10.0.0.7"))
    assert "(`ccapki acme order solo`) for the other names" in both, both
    assert (
        "never names an IP address (DNS-01 cannot prove one; public CAs do not issue them):"
        " 10.0.0.7" in both
    ), both
    dns = _note("acme", ("solo.example.edu",))
    assert "`ccapki acme order solo`" in dns, dns
    assert "IP address" not in dns, dns


def test_status_and_check_ha_of_a_renamed_third_party_peer(cli: Cli, tmp_path: Path) -> None:
    text = Path(FAQ).read_text()
    old = 'virtual_hostname = "cas-dorm.example.edu"'
    text = text.replace(old, f'{old}\nsource = "third-party"')
    f = write(tmp_path / "d.toml", text)
    ok(cli("init", "--key-file"))
    ok(cli("apply", f))
    ok(cli("csr", "cas-dorm", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-dorm.csr").read_bytes())
    outside = OutsideCA.make(now=NOW)
    bundle = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "answer.pem", bundle)))
    peer = 'name = "cas-dorm-b", hostname = "cas-dorm-b.'
    write(f, text.replace(peer, 'name = "x", hostname = "x.'))
    ok(cli("apply", f))
    r = cli("status", "--json")
    assert r.code == 1, r.both
    (item,) = [i for i in r.json()["items"] if i["name"] == "cas-dorm"]
    assert item["stage"] == "missing-san", item
    assert "make a new CSR (`ccapki csr cas-dorm`)" in item["note"], item
    assert "ccapki apply" not in item["note"], item
    ha = cli("check-ha", "cas-dorm")
    assert ha.code == 1, ha.both
    assert "make a new CSR (`ccapki csr cas-dorm`)" in ha.out, ha.out
    assert "ccapki apply" not in ha.out, ha.out
