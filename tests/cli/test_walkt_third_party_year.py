"""Walkthrough T: a year of a third-party CA (root + intermediate) certifying a CCA 4.9
estate.

1. ``ccapki plan NEWFILE`` for an HA pair whose peer was renamed (the file not applied
   yet): the CSR action ran "apply this file first ... IP addresses)names not in the
   certificate: ..." together, with no separator.
2. ``ccapki import`` of a CAS certificate whose subject DN is not the one before it (a CA
   that writes the subject in its own order, ``O=...,CN=...``; or the first certificate
   of a CAS) said nothing of CCA 4.9's CAM-CAS DN authorization, while ``apply`` says it
   for what it issues: the CAM refuses the CAS once it presents the new DN. It now ends
   with ``next: allow CAS NAME by DN on the CAM``, naming the DN no longer needed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write


def _text(peer_b: str = "cas-ha-b") -> str:
    text = deployment(
        name="tp",
        release="4.9",
        source="third-party",
        cam=standalone("cam", "10.0.0.1"),
        cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-one", "10.6.0.1")],
    )
    return text.replace(
        'name = "cas-ha-b", hostname = "cas-ha-b.example.org"',
        (f'name = "{peer_b}", hostname = "{peer_b}.example.org"'),
    )


def _answer(outside: OutsideCA, csr_file: Path, out: Path, *, reorder: bool = False) -> Path:
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    subject = csr.subject
    if reorder:  # the CA writes O after CN (RFC 4514: "O=...,CN=...")
        subject = x509.Name(
            [
                x509.NameAttribute(
                    NameOID.COMMON_NAME,
                    str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value),
                ),
                x509.NameAttribute(
                    NameOID.ORGANIZATION_NAME,
                    str(subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value),
                ),
            ]
        )
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cert = outside.sign(
        subject,
        csr.public_key(),
        dns=san.get_values_for_type(x509.DNSName),
        ips=[str(i) for i in san.get_values_for_type(x509.IPAddress)],
    )
    return write(out, b"".join(pem(c) for c in (cert, *outside.chain)))


def test_plan_of_a_renamed_peer_separates_its_reasons(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    old = write(tmp_path / "campus.toml", _text())
    ok(cli("apply", old))
    ok(cli("csr", "cas-ha", "--out", tmp_path / "c"))
    ok(cli("import", _answer(outside, tmp_path / "c" / "cas-ha.csr", tmp_path / "a.pem")))
    new = write(tmp_path / "renamed.toml", _text("cas-ha-c"))
    doc = ok(cli("plan", new, "--json")).json()
    (a,) = [a for a in doc["pending_actions"] if a["identity"] == "cas-ha"]
    reason = str(a["reason"])
    assert reason.startswith(f"apply this file first (`ccapki apply {new}`)"), reason
    assert "DNS names): names not in the certificate: cas-ha-c.example.org" in reason, reason


def test_import_of_a_cas_with_another_subject_dn_says_allow_it_on_the_cam(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(tmp_path / "campus.toml", _text())
    ok(cli("apply", f))
    ok(cli("csr", "--all", "--out", tmp_path / "c1"))
    first = ok(
        cli(
            "import",
            _answer(outside, tmp_path / "c1" / "cas-one.csr", tmp_path / "one.pem"),
            _answer(outside, tmp_path / "c1" / "cam.csr", tmp_path / "cam.pem"),
        )
    )
    dn = "CN=cas-one.example.org,O=Test Org"
    assert (
        f"next: allow CAS cas-one by DN on the CAM (4.9.0 authorization): {dn}, before "
        "cas-one presents its new certificate\n" in first.out
    ), first.out
    assert "allow CAS cam" not in first.out  # the CAM is not a CAS

    # the renewal: the CA now writes the subject in its own order
    ok(cli("renew", "cas-one", "cas-ha", "--commit", "--out", tmp_path / "c2"))
    again = ok(
        cli(
            "import",
            _answer(outside, tmp_path / "c2" / "cas-one.csr", tmp_path / "one2.pem", reorder=True),
            _answer(outside, tmp_path / "c1" / "cas-ha.csr", tmp_path / "ha.pem"),
        )
    )
    assert (
        "next: allow CAS cas-one by DN on the CAM (4.9.0 authorization): "
        f"O=Test Org,CN=cas-one.example.org, before cas-one presents its new certificate; "
        f"{dn} is no longer needed once it does" in again.out
    ), again.out
    pair = "(HA pair cas-ha: one entry for both peers, cas-ha-a and cas-ha-b, one certificate)"
    assert f"CN=cas-ha.example.org,O=Test Org {pair}" in again.out, again.out
    # the next line says the install after the DN lines
    assert again.out.index("allow CAS cas-one") < again.out.index("install it on cas-one")

    # the same DN again: nothing to allow
    ok(cli("renew", "cas-one", "--commit", "--out", tmp_path / "c3"))
    same = ok(
        cli(
            "import",
            _answer(outside, tmp_path / "c3" / "cas-one.csr", tmp_path / "one3.pem", reorder=True),
        )
    )
    assert "allow CAS" not in same.out, same.out


def test_check_ha_of_one_certificate_lacking_a_renamed_peer_says_so(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """3. ``check-ha`` of the bundles taken off both peers (one certificate, one key) after
    a peer was renamed concluded "the peers present different certificates or names":
    they present the same one, which lacks the new peer's names."""
    ok(cli("apply", write(tmp_path / "campus.toml", _text())))
    ok(cli("csr", "cas-ha", "--out", tmp_path / "c"))
    ok(cli("import", _answer(outside, tmp_path / "c" / "cas-ha.csr", tmp_path / "a.pem")))
    bundle = tmp_path / "peer.pem"
    ok(cli("export", "cas-ha", "--format", "pem-bundle", "--out", bundle))
    ok(cli("apply", write(tmp_path / "renamed.toml", _text("cas-ha-c"))))
    r = cli("check-ha", "cas-ha", "--primary", bundle, "--secondary", bundle)
    assert r.code == 1, r.both
    last = [line for line in r.out.splitlines() if line.startswith("cas-ha: ")][-1]
    assert "different certificates" not in last, last
    assert "a peer's certificate lacks names the deployment file gives the pair" in last, last
    assert "the store's current certificate v1 lacks them too" in last, last
