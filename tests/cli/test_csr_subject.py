"""The deployment file's subject fields in what ccapki makes (audit: CSRs carried only O
and CN; a commercial CA refuses such a CSR, or the administrator edits it by hand).

``ccapki csr`` and the CSRs of ``renew --commit`` (a new key, or the same key) carry C,
ST, L, O, OU, CN and emailAddress in that order; internally issued certificates carry
them too (as CCA's own certificate form asks for them); ``inspect`` shows them; a file
without them makes today's O + CN; ``plan FILE`` with them still imports no cryptography."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ccapki.store.session import Store
from kit.certs import NOW, OutsideCA, pem
from kit.cli import SUBJECT, Cli, ok, standalone, write
from kit.cli import deployment as make_deployment

from .test_cold_start import imported

PLAIN = make_deployment(
    name="csrsubj",
    cas=[
        standalone("cas-tp", "10.7.0.1", source="third-party"),
        standalone("cas-own", "10.7.0.2", source="third-party")
        + 'subject = { locality = "Shelbyville", email = "cas-own@example.org" }\n',
    ],
)
TEXT = PLAIN.replace("\n[cam]\n", SUBJECT + "\n[cam]\n", 1)


def expected(
    cn: str, *, locality: str = "Springfield", email: str = "pki-team@example.org"
) -> list[tuple[x509.ObjectIdentifier, str | bytes]]:
    """The subject attributes the file asks for, in order (C, ST, L, O, OU, CN, email)."""
    return [
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Illinois"),
        (NameOID.LOCALITY_NAME, locality),
        (NameOID.ORGANIZATION_NAME, "Test Org"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "IT Services"),
        (NameOID.COMMON_NAME, cn),
        (NameOID.EMAIL_ADDRESS, email),
    ]


def attrs(name: x509.Name) -> list[tuple[x509.ObjectIdentifier, str | bytes]]:
    """The name's attributes in DER order; each must be an RDN of its own."""
    assert all(len(rdn) == 1 for rdn in name.rdns), name
    return [(a.oid, a.value) for a in name]


def csr_of(cli: Cli, tmp_path: Path, *names: str) -> dict[str, x509.CertificateSigningRequest]:
    out = tmp_path / "csr"
    ok(cli("csr", *names, "--out", out))
    return {n: x509.load_pem_x509_csr((out / f"{n}.csr").read_bytes()) for n in names}


def test_a_csr_carries_exactly_the_file_s_subject(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", TEXT)))
    csrs = csr_of(cli, tmp_path, "cas-tp", "cas-own")
    assert attrs(csrs["cas-tp"].subject) == expected("cas-tp.example.org")
    assert attrs(csrs["cas-own"].subject) == expected(
        "cas-own.example.org", locality="Shelbyville", email="cas-own@example.org"
    )
    # C is a PrintableString and emailAddress an IA5String, as CAs expect them
    der = csrs["cas-tp"].subject.public_bytes()
    assert b"\x06\x03\x55\x04\x06\x13\x02US" in der
    assert b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01\x16\x14pki-team@example.org" in der
    # inspect shows them (emailAddress by its name, not its OID)
    shown = ok(cli("inspect", tmp_path / "csr" / "cas-tp.csr", "--json")).json()
    assert shown["subject"] == (
        "emailAddress=pki-team@example.org,CN=cas-tp.example.org,OU=IT Services,O=Test Org,"
        "L=Springfield,ST=Illinois,C=US"
    )
    text = ok(cli("inspect", tmp_path / "csr" / "cas-tp.csr")).out
    for part in ("C=US", "ST=Illinois", "L=Springfield", "OU=IT Services", "emailAddress="):
        assert part in text, text


def test_without_subject_fields_a_csr_is_o_and_cn_as_before(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", PLAIN.replace("subject = {", "# subject = {"))))
    csr = csr_of(cli, tmp_path, "cas-tp")["cas-tp"]
    assert attrs(csr.subject) == [
        (NameOID.ORGANIZATION_NAME, "Test Org"),
        (NameOID.COMMON_NAME, "cas-tp.example.org"),
    ]


def test_internal_certificates_carry_them_the_cas_keep_their_names(
    cli: Cli, tmp_path: Path, home: Path
) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", TEXT)))
    cam = ok(cli("inspect", "cam", "--json")).json()
    assert cam["subject"] == (
        "emailAddress=pki-team@example.org,CN=cam.example.org,OU=IT Services,O=Test Org,"
        "L=Springfield,ST=Illinois,C=US"
    )
    with Store.open(home, clock=lambda: NOW) as store, store.scoped("csrsubj"):
        cas = store.cas.list()
        assert attrs(store.identities.current()["cam"].certificate.subject) == expected(
            "cam.example.org"
        )
    assert {c.kind for c in cas} == {"internal-root", "internal-ca"}
    for ca in cas:  # the CAs keep their own names: O and CN
        assert [a.oid for a in ca.certificate.subject] == [
            NameOID.ORGANIZATION_NAME,
            NameOID.COMMON_NAME,
        ]


def test_fields_added_to_an_applied_file_wait_for_the_next_renewal(
    cli: Cli, tmp_path: Path
) -> None:
    """As a changed O: no reissue of a certificate that fits its names (`renew` now)."""
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "plain.toml", PLAIN.replace("subject = {", "# s = {"))))
    r = ok(cli("apply", write(tmp_path / "d.toml", TEXT), "--dry-run", "--json")).json()
    assert {a["identity"]: a["action"] for a in r["actions"]}["cam"] == "nothing", r
    ok(cli("apply", tmp_path / "d.toml"))  # the store keeps the new file; nothing reissued
    assert ok(cli("inspect", "cam", "--json")).json()["subject"] == "CN=cam.example.org,O=Test Org"
    ok(cli("renew", "cam", "--commit"))
    cam = ok(cli("inspect", "cam", "--json")).json()
    assert cam["subject"].startswith("emailAddress=pki-team@example.org,CN=cam.example.org")


@pytest.mark.parametrize("policy", ["rotate", "keep"])
def test_a_renewal_csr_carries_them(
    cli: Cli, tmp_path: Path, outside: OutsideCA, policy: str
) -> None:
    text = TEXT + ('\n[renewal]\nkey = "keep"\n' if policy == "keep" else "")
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    csr = csr_of(cli, tmp_path, "cas-tp")["cas-tp"]
    cert = outside.sign_csr(csr, not_before=NOW - dt.timedelta(hours=1))
    write(tmp_path / "v1.pem", pem(cert) + pem(outside.inter) + pem(outside.root))
    ok(cli("import", tmp_path / "v1.pem"))
    later = NOW + dt.timedelta(days=350)  # inside its renewal window
    out = tmp_path / "renewed"
    ok(cli("renew", "cas-tp", "--commit", "--out", out, now=later))
    renewed = x509.load_pem_x509_csr((out / "cas-tp.csr").read_bytes())
    assert attrs(renewed.subject) == expected("cas-tp.example.org")
    assert (renewed.public_key() == csr.public_key()) is (policy == "keep")


def test_plan_of_a_file_with_subject_fields_imports_no_cryptography(tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", TEXT)
    mods = imported(["plan", str(path)], tmp_path / "no-store", tmp_path)
    assert "cryptography" not in mods
