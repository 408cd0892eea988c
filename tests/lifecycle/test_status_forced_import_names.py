"""``ccapki status`` of a certificate ``import --force`` took although it lacks names the
deployment file gives its identity: status said ``ok``. Its names check (stage
``missing-san``) reads only the certificates whose identity the file has given other names
since they were made, trusting ``import`` to refuse one lacking them; ``--force`` takes it
anyway. The store now marks such a certificate (``certificates.names_unchecked``, schema
0011) and status reads its names too (table, --json, --nagios, the identities page), but
for the IP addresses of an ACME identity's (no ACME order names one). An import that
needed no ``--force`` is not marked, nor read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from sqlalchemy import text

from ccapki import api
from ccapki.lifecycle.status import UNFIT_STAGE
from ccapki.store import Store
from kit.certs import NOW, OutsideCA, ec_key, key_pem, pem
from kit.cli import Cli, deployment, error_with_hint, ok, write
from kit.pgmode import store_sql

CAS1 = 'name = "cas1"\nhostname = "cas1.example.org"\nip = "10.1.0.1"\nsource = "third-party"\n'
ACME = """
[acme]
directory = "https://127.0.0.1:9/directory"
email = "pki@example.org"
dns = "hook"
hook = "/usr/local/bin/acme-dns-hook --zone example.org"
"""


def _csr(cli: Cli, tmp_path: Path, out: str) -> x509.CertificateSigningRequest:
    ok(cli("csr", "cas1", "--out", tmp_path / out))
    return x509.load_pem_x509_csr((tmp_path / out / "cas1.csr").read_bytes())


def _answer(tmp_path: Path, name: str, cert: x509.Certificate, outside: OutsideCA) -> Path:
    return write(tmp_path / name, b"".join(pem(c) for c in (cert, *outside.chain)))


def _unchecked(home: Path) -> dict[tuple[str, int], str | None]:
    with store_sql(home) as c:
        rows = c.execute(text("SELECT identity, version, names_unchecked FROM certificates"))
        return {(identity, version): why for identity, version, why in rows}


def _identities(cli: Cli) -> dict[str, dict[str, object]]:
    r = cli("status", "--json")
    return {i["name"]: i for i in r.json()["items"] if i["kind"] == "identity"}


def test_status_reads_the_names_of_a_certificate_import_force_took(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(tmp_path / "d.toml", deployment(cas=[CAS1]))
    ok(cli("apply", f))
    csr = _csr(cli, tmp_path, "c1")
    no_ip = _answer(tmp_path, "a1.pem", outside.sign_csr(csr, ips=[]), outside)
    refused = error_with_hint(cli("import", no_ip))
    assert "10.1.0.1" in refused.err, refused.err
    ok(cli("import", no_ip, "--force"))
    ok(cli("trust", "apply"))
    assert _unchecked(keyfile_store)[("cas1", 1)] == "import --force"

    r = cli("status", "--json")
    assert r.code == 1, r.both
    items = {i["name"]: i for i in r.json()["items"] if i["kind"] == "identity"}
    cas1 = items["cas1"]
    assert cas1["stage"] == UNFIT_STAGE == "missing-san", cas1
    assert "names missing from the SANs: 10.1.0.1" in str(cas1["note"]), cas1
    assert "(taken with `ccapki import --force`)" in str(cas1["note"]), cas1
    assert "`ccapki csr cas1`" in str(cas1["note"]), cas1  # the step: a new CSR
    assert items["cam"]["stage"] == "ok", items["cam"]

    table = cli("status")
    assert table.code == 1, table.both
    row = next(line for line in table.out.splitlines() if " cas1 " in line)
    assert row.upper().startswith("MISSING-SAN"), table.out
    assert "10.1.0.1" in table.out, table.out

    nagios = cli("status", "--nagios")
    assert nagios.code == 1, nagios.both
    assert nagios.out.startswith("CCAPKI WARNING - "), nagios.out

    # the identities page of the API and dashboard judges it as status does
    with Store.open(keyfile_store) as store:
        page = api.inventory_page(store, "test", now=NOW)
    assert {i.name: i.stage for i in page.items}["cas1"] == UNFIT_STAGE

    # the CA's answer to a new CSR, naming everything, imported without --force: fine again
    later = NOW + dt.timedelta(hours=1)
    good = _answer(tmp_path, "a2.pem", outside.sign_csr(_csr(cli, tmp_path, "c2")), outside)
    ok(cli("import", good, now=later))
    assert _unchecked(keyfile_store)[("cas1", 2)] is None
    fine = cli("status", "--json", now=later)
    assert fine.code == 0, fine.both
    assert {i["stage"] for i in fine.json()["items"] if i["kind"] == "identity"} == {"ok"}


def test_an_import_that_needed_no_force_is_not_marked(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """With or without --force, a certificate naming everything is not marked: status
    reads no certificate for it."""
    f = write(tmp_path / "d.toml", deployment(cas=[CAS1]))
    ok(cli("apply", f))
    answer = _answer(tmp_path, "a1.pem", outside.sign_csr(_csr(cli, tmp_path, "c1")), outside)
    ok(cli("import", answer, "--force"))
    ok(cli("trust", "apply"))
    assert set(_unchecked(keyfile_store).values()) == {None}
    r = cli("status", "--json")
    assert r.code == 0, r.both
    assert {i["stage"] for i in r.json()["items"] if i["kind"] == "identity"} == {"ok"}


def test_an_acme_identity_lacking_its_ip_stays_ok(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """An ACME identity's certificate lacks its IP address by design (no ACME order names
    one): taken with --force (import refuses it for the IP), status keeps it ok. One that
    also lacks a DNS name is missing-san, as any other."""
    cam = 'name = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\nsource = "acme"\n'
    f = write(tmp_path / "d.toml", deployment(cam=cam, cas=[CAS1]) + ACME)
    ok(cli("apply", f, "--no-acme"))
    key = ec_key()
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "cam.example.org")])
    cert = outside.sign(subject, key.public_key(), dns=["cam.example.org"])
    answer = _answer(tmp_path, "cam.pem", cert, outside)
    key_file = write(tmp_path / "cam.key", key_pem(key))
    refused = error_with_hint(cli("import", answer, key_file))
    assert "10.0.0.1" in refused.err, refused.err
    ok(cli("import", answer, key_file, "--force"))
    assert _unchecked(keyfile_store)[("cam", 1)] == "import --force"
    assert _identities(cli)["cam"]["stage"] == "ok"

    later = NOW + dt.timedelta(hours=1)
    key = ec_key()
    other = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "other.example.org")])
    cert = outside.sign(other, key.public_key(), dns=["other.example.org"])
    answer = _answer(tmp_path, "other.pem", cert, outside)
    key_file = write(tmp_path / "other.key", key_pem(key))
    ok(cli("import", answer, key_file, "--force", "--identity", "cam", now=later))
    item = _identities(cli)["cam"]
    assert item["stage"] == UNFIT_STAGE, item
    assert "cam.example.org" in str(item["note"]), item
