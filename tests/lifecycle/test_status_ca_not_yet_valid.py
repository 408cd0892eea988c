"""``ccapki status`` of a CA and a trust-store root dated ahead (their notBefore after
``now``): ``ok``. Status judged CA and root rows ``not-yet-valid`` only where it parsed
their PEM (rows written before schema 0010); every row written since kept ``not_after``
alone. The ``cas`` and ``trust_entries`` tables now keep ``not_before`` too (schema 0011),
written wherever a CA or trust entry is, and status says NOT-YET-VALID for them as for an
identity: exit 1, --nagios CRITICAL; ok again once the day comes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from sqlalchemy import text

from ccapki.lifecycle.status import EARLY_STAGE
from ccapki.store.records import stored_time
from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, ok, standalone, write
from kit.pgmode import store_sql

CAS1 = 'name = "cas1"\nhostname = "cas1.example.org"\nip = "10.1.0.1"\nsource = "third-party"\n'


def _stored_starts(home: Path) -> dict[tuple[str, str], dt.datetime]:
    """(table, fingerprint) -> the not_before column of every CA and trust entry."""
    out: dict[tuple[str, str], dt.datetime] = {}
    with store_sql(home) as c:
        for table in ("cas", "trust_entries"):
            for fp, start in c.execute(text(f"SELECT fingerprint, not_before FROM {table}")):
                assert start is not None, (table, fp)
                out[table, fp] = stored_time(start)
    return out


def test_status_says_a_ca_and_a_root_dated_ahead_not_yet_valid(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    # an outside CA whose root and issuing CA start 3 days after NOW (its clock ahead);
    # the certificate it signed for cas1 starts before NOW
    ahead = OutsideCA.make("Ahead Trust", now=NOW + dt.timedelta(days=33))
    start = ahead.inter.not_valid_before_utc
    assert start > NOW
    f = write(tmp_path / "d.toml", deployment(cas=[CAS1]))
    ok(cli("apply", f))
    ok(cli("csr", "cas1", "--out", tmp_path / "c1"))
    csr = x509.load_pem_x509_csr((tmp_path / "c1" / "cas1.csr").read_bytes())
    cert = ahead.sign_csr(csr, not_before=NOW - dt.timedelta(hours=1))
    # its CA certificates imported alone (kept in the store's CAs), then its answer
    ok(cli("import", write(tmp_path / "ca.pem", b"".join(pem(c) for c in ahead.chain))))
    answer = write(tmp_path / "a1.pem", b"".join(pem(c) for c in (cert, *ahead.chain)))
    ok(cli("import", answer))
    ok(cli("trust", "apply"))
    assert len(_stored_starts(keyfile_store)) >= 4  # internal and outside CAs, roots held

    r = cli("status", "--json")
    assert r.code == 1, r.both
    items = r.json()["items"]
    stages = {(i["kind"], i["name"]): i["stage"] for i in items}
    assert stages.get(("ca", "Ahead Trust Root")) == EARLY_STAGE, sorted(stages.items())
    assert stages[("ca", "Ahead Trust Issuing CA")] == EARLY_STAGE, stages
    roots = [i for i in items if i["kind"] == "trust-root" and "Ahead Trust" in i["name"]]
    assert roots, items
    assert {i["stage"] for i in roots} == {EARLY_STAGE}
    note = next(i["note"] for i in items if i["name"] == "Ahead Trust Root")
    assert f"not valid until {ahead.root.not_valid_before_utc:%Y-%m-%d %H:%M} UTC" in note
    assert stages[("identity", "cas1")] == "ok"  # the certificate itself has started
    assert stages[("ca", next(n for k, n in stages if k == "ca" and "Ahead" not in n))] == "ok"
    assert r.json()["counts"]["not_yet_valid"] >= 3
    assert r.json()["nagios_code"] == 2

    table = cli("status")
    assert table.code == 1, table.both
    row = next(line for line in table.out.splitlines() if "Ahead Trust Issuing CA" in line)
    assert row.startswith("NOT-YET-VALID"), table.out

    nagios = cli("status", "--nagios")
    assert nagios.code == 2, nagios.both
    assert nagios.out.startswith("CCAPKI CRITICAL - "), nagios.out

    # once the day comes, ordinary CAs and roots again
    later = cli("status", "--json", now=start + dt.timedelta(minutes=1))
    assert later.code == 0, later.both
    assert EARLY_STAGE not in {i["stage"] for i in later.json()["items"]}


def test_status_before_the_store_made_its_cas(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """The internal CAs ``apply`` made at NOW, judged at an earlier ``now`` (CCAPKI_NOW):
    not valid yet, as the identities they signed."""
    f = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    ok(cli("apply", f))
    earlier = min(_stored_starts(keyfile_store).values()) - dt.timedelta(days=1)
    r = cli("status", "--json", now=earlier)
    assert r.code == 1, r.both
    by_kind: dict[str, set[str]] = {}
    for i in r.json()["items"]:
        by_kind.setdefault(i["kind"], set()).add(i["stage"])
    assert by_kind["ca"] == {EARLY_STAGE}, r.out
    assert by_kind["identity"] == {EARLY_STAGE}, r.out
    assert ok(cli("status", "--json")).json()["counts"]["not_yet_valid"] == 0
