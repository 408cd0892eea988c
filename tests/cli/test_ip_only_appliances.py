"""Appliances known by their IP address alone (audit: a ``[[cas]]`` with ``ip`` and no
``hostname`` was refused, ``'s2' has no hostname``, so the FAQ's "one certificate for each
CAS and each CAM" could not be planned for it, though CCA's own certificate form takes an
IP as the CN and its temporary certificate often is CN=<its IP>).

An appliance without ``hostname`` (an HA pair without ``virtual_hostname``: its Service IP)
gets CN = the address and a SAN iPAddress entry (no DNS name): browsers match an address
against the SAN's iPAddress entries alone (Chromium refuses CN=<IP> without it). Real
certificates, real CLI runs: plan, apply, inspect, csr + an outside CA + import, trust check.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import pkcs12

from kit.certs import NOW, OutsideCA, mint, pem
from kit.cli import Cli, deployment, error_with_hint, ok, write

S2 = ipaddress.ip_address("10.4.0.10")
#: a CAM with a hostname and a CAS known by its address alone (the audit's file)
IP_ONLY = deployment(name="iponly", release="4.9.0", cas=['name = "s2"\nip = "10.4.0.10"\n'])
#: the same CAS from a third-party CA (a CSR names it)
IP_ONLY_THIRD = deployment(
    name="iponly",
    release="4.9.0",
    cas=['name = "s2"\nip = "10.4.0.10"\nsource = "third-party"\n'],
)
#: an HA pair known by its addresses: the Service IP and each peer's IP, no virtual hostname
IP_PAIR = deployment(
    name="ippair",
    release="4.9.0",
    cas=[
        'name = "cas-pair"\nservice_ip = "10.6.0.10"\n'
        'primary = { name = "cas-pair-a", ip = "10.6.0.11" }\n'
        'secondary = { name = "cas-pair-b", ip = "10.6.0.12" }\n'
    ],
)


def _san(cert: x509.Certificate) -> tuple[list[str], list[Any]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _cells(cli: Cli) -> dict[tuple[str, str], dict[str, Any]]:
    data = cli("trust", "check", "--json").json()
    return {(c["appliance"], c["channel"]): c for c in data["cells"]}


def test_an_ip_only_cas_is_planned_issued_and_inspected(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = write(tmp_path / "d.toml", IP_ONLY)
    plan = ok(cli("plan", f, "--json")).json()
    assert plan["certificates_needed"] == 2
    s2 = next(i for i in plan["identities"] if i["name"] == "s2")
    assert (s2["common_name"], s2["san_dns"], s2["san_ip"]) == ("10.4.0.10", [], ["10.4.0.10"])
    assert s2["subject"] == "CN=10.4.0.10,O=Test Org"
    assert s2["installed_on"] == ["s2"]
    assert "CN=10.4.0.10" in ok(cli("plan", f)).out

    applied = ok(cli("apply", f))
    assert "issued s2 v1" in applied.out
    assert "CN=10.4.0.10" in applied.out  # the CAM allows it by that DN (4.9)
    shown = ok(cli("inspect", "s2", "--json")).json()
    assert (shown["common_name"], shown["san_dns"], shown["san_ip"]) == (
        "10.4.0.10",
        [],
        ["10.4.0.10"],
    )
    out = tmp_path / "s2.pem"
    ok(cli("export", "s2", "--format", "fullchain", "--out", out))
    cert = x509.load_pem_x509_certificates(out.read_bytes())[0]
    assert _cn(cert.subject) == "10.4.0.10"
    assert _san(cert) == ([], [S2])  # the SAN's iPAddress entry: what browsers match

    again = ok(cli("apply", f))  # idempotent: the certificate fits the plan
    assert again.out.startswith("nothing to do"), again.out
    assert ok(cli("status")).code == 0

    cells = _cells(cli)
    for channel in ("cam-cas", "agent", "web-login", "admin-gui"):
        assert cells["s2", channel]["status"] == "pass", cells["s2", channel]
    roots = ok(cli("export-roots", "--out", tmp_path / "roots"))
    assert "(for cam, s2)" in roots.out


def test_an_ha_pair_known_by_its_addresses_shares_one_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = write(tmp_path / "d.toml", IP_PAIR)
    plan = ok(cli("plan", f, "--json")).json()
    assert plan["certificates_needed"] == 2  # the CAM and the pair
    pair = next(i for i in plan["identities"] if i["name"] == "cas-pair")
    assert pair["common_name"] == "10.6.0.10"  # the Service IP
    assert pair["san_dns"] == []
    assert pair["san_ip"] == ["10.6.0.10", "10.6.0.11", "10.6.0.12"]
    ok(cli("apply", f))
    cells = _cells(cli)
    for peer in ("cas-pair-a", "cas-pair-b"):
        for channel in ("cam-cas", "ha-heartbeat", "web-login", "admin-gui"):
            assert cells[peer, channel]["status"] == "pass", cells[peer, channel]
    ha = ok(cli("check-ha", "cas-pair"))
    assert "cas-pair: fit for HA" in ha.out


def test_an_ip_only_csr_signed_by_an_outside_ca_is_imported(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(tmp_path / "d.toml", IP_ONLY_THIRD)
    ok(cli("apply", f))
    ok(cli("csr", "s2", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "s2.csr").read_bytes())
    assert _cn(csr.subject) == "10.4.0.10"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert (san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)) == (
        [],
        [S2],
    )
    answer = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    imported = ok(cli("import", write(tmp_path / "answer.pem", answer)))
    assert "imported s2 v1: CN=10.4.0.10" in imported.out
    plan = ok(cli("plan", "--json")).json()
    assert "await" not in str(plan)
    ok(cli("trust", "apply"))
    # the clients trust the outside CA's root: the web login by the address passes
    bundle = write(tmp_path / "clients.pem", pem(outside.root))
    # (the CAM's admin GUI fails: that bundle lacks the internal root that signs the CAM)
    data = cli("trust", "check", "--clients", bundle, "--json").json()
    cells = {(c["appliance"], c["channel"]): c for c in data["cells"]}
    assert cells["s2", "web-login"]["status"] == "pass", cells["s2", "web-login"]
    assert cells["s2", "cam-cas"]["status"] == "pass", cells["s2", "cam-cas"]


def test_a_ca_answer_naming_the_address_in_the_cn_alone_fails_in_chromium(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """A CA that dropped the SAN: CN=10.4.0.10 alone. The import refuses it (it lacks the
    address the plan gives s2); taken with --force, trust check fails the web login by
    the address in Chromium (no CN fallback, and never for an address)."""
    f = write(tmp_path / "d.toml", IP_ONLY_THIRD)
    ok(cli("apply", f))
    ok(cli("csr", "s2", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "s2.csr").read_bytes())
    bare = outside.sign(csr.subject, csr.public_key())  # no SAN at all
    answer = write(tmp_path / "bare.pem", b"".join(pem(c) for c in (bare, *outside.chain)))
    refused = error_with_hint(cli("import", answer))
    assert "10.4.0.10" in refused.err
    ok(cli("import", answer, "--force"))
    ok(cli("trust", "apply"))
    bundle = write(tmp_path / "clients.pem", pem(outside.root))
    data = cli("trust", "check", "--clients", bundle, "--json").json()
    cells = {(c["appliance"], c["channel"]): c for c in data["cells"]}
    web = cells["s2", "web-login"]
    assert web["status"] == "fail", web
    assert any(
        x.startswith(
            "client -> 10.4.0.10: [missing-san] the certificate names 10.4.0.10 only "
            "in its CN; Chromium"
        )
        for x in web["findings"]
    ), web
    control = cells["s2", "cam-cas"]  # Java PKIX checks no name there: a warning only
    assert (control["status"], control["findings"]) == ("warn", []), control


def test_the_appliance_s_own_certificate_named_by_its_ip_is_adopted(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """CCA's temporary certificate, CN=<its IP> (with the SAN iPAddress), adopted with
    `import --file` before the first apply: matched to s2 by its address, then kept."""
    text = IP_ONLY.replace('source = "internal"', 'source = "self-signed"')
    f = write(tmp_path / "d.toml", text)
    own = mint("10.4.0.10", san=["10.4.0.10"], start=NOW - dt.timedelta(days=3), days=1826)
    p12 = pkcs12.serialize_key_and_certificates(
        b"s2",
        own.key,  # type: ignore[arg-type]
        own.cert,
        None,
        serialization.BestAvailableEncryption(b"appliance-pw"),
    )
    adopted = ok(
        cli("import", "--file", f, write(tmp_path / "s2.p12", p12), "--password", "appliance-pw")
    )
    assert "s2" in adopted.out
    kept = ok(cli("apply", f))
    assert "kept: s2 (adopted certificate, fits the plan)" in kept.out, kept.out
    assert "issued s2" not in kept.out
    shown = ok(cli("inspect", "s2", "--json")).json()
    assert shown["sha256"].replace(":", "").lower() == own.cert.fingerprint(SHA256()).hex()


def test_an_appliance_with_neither_hostname_nor_ip_is_one_error_and_a_hint(
    cli: Cli, tmp_path: Path
) -> None:
    text = deployment(cas=['name = "s2"\nsource = "internal"\n'])
    f = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", f, home_dir=None))
    lines = r.err.splitlines()
    assert len(lines) == 2, r.err
    assert lines[0].startswith(f"error: {f}:"), lines[0]
    assert "cas[0]: 's2' has neither hostname nor ip" in lines[0]
    assert lines[1].startswith('hint: add ip = "..."'), lines[1]
    assert "hostname" in lines[1]
    assert r.out == ""


def test_the_recovery_kit_and_the_lab_name_the_appliance_by_its_address(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Where a report names an appliance's hostname, one known by its address says that."""
    from ccapki.lifecycle.labspec import load_spec

    f = write(tmp_path / "d.toml", IP_PAIR)
    ok(cli("apply", f))
    pw = {"CCAPKI_EXPORT_PASSWORD": "kit-password-1"}
    ok(cli("backup", "appliance", "cas-pair-a", "--out", tmp_path / "kit", env=pw))
    readme = (tmp_path / "kit" / "README.txt").read_text()
    assert "Certificate: CN=10.6.0.10" in readme
    assert "2. On cas-pair-a (10.6.0.11), open SSL > x509 Certificate" in readme
    assert "on the secondary, cas-pair-b (10.6.0.12), repeat" in readme
    assert "None" not in readme
    spec = load_spec(str(keyfile_store))  # what `ccapki lab up` serves
    peers = {a.name: a for a in spec.appliances}
    assert peers["cas-pair-a"].peer_name == "10.6.0.10"  # the pair's CN: its Service IP
    assert peers["cas-pair-a"].gui_name == "10.6.0.11"  # its own admin GUI: its own address
