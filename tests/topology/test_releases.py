"""Item 4: release profiles as one table, read by the plan and by issuing."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ccapki.errors import InputError
from ccapki.pki.issue import BACKDATE
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from ccapki.topology.plan import make_plan
from ccapki.topology.releases import RELEASES, Release, parse_release, profile_for
from kit.certs import NOW
from kit.cli import REPO, CliRunner, deployment, ha_pair, standalone, write


def _issue_self_signed(cli: CliRunner, home: Path, tmp_path: Path, release: str) -> Store:
    text = deployment(release=release, source="self-signed", cas=[ha_pair("cas1", "10.1.0")])
    path = write(tmp_path / f"{release}.toml", text)
    assert cli("init", "--key-file").code == 0
    r = cli("apply", str(path))
    assert r.code == 0, r.both
    return Store.open(home)


def _basic(cert: x509.Certificate) -> x509.BasicConstraints:
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value


def test_472_temporary_certificate_is_true_self_signed_for_90_days(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    with _issue_self_signed(cli, home, tmp_path, "4.7.2") as store:
        idents = store.identities.current()
        assert store.cas.list() == []  # no CA at all: each identity is its own root
    assert set(idents) == {"cam", "cas1"}
    for ident in idents.values():
        cert = ident.certificate
        assert cert.not_valid_after_utc - NOW == dt.timedelta(days=90)
        assert cert.not_valid_before_utc == NOW - BACKDATE
        assert cert.subject == cert.issuer
        cert.verify_directly_issued_by(cert)  # signed by its own key
        assert _basic(cert).ca is False
        assert ident.chain == ()
        assert ident.source == "self-signed"


def test_480_temporary_certificate_lasts_five_years(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    with _issue_self_signed(cli, home, tmp_path, "4.8.0") as store:
        cert = store.identities.get("cas1")
    assert cert is not None
    end = cert.certificate.not_valid_after_utc
    assert end == NOW.replace(year=NOW.year + 5)  # five calendar years, leap day included
    cert.certificate.verify_directly_issued_by(cert.certificate)
    assert _basic(cert.certificate).ca is False


def test_461_temporary_certificate_is_signed_by_the_perfigo_root(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    assert profile_for(parse_release("4.6.1")).temp_cert_signer == "perfigo"
    with _issue_self_signed(cli, home, tmp_path, "4.6.1") as store:
        (root,) = store.cas.list()
        idents = store.identities.current()
    assert root.kind == "perfigo-root"
    root_cn = root.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert "Perfigo" in str(root_cn)
    assert _basic(root.certificate).ca is True
    for ident in idents.values():
        cert = ident.certificate
        assert cert.subject != cert.issuer
        assert cert.issuer == root.certificate.subject
        cert.verify_directly_issued_by(root.certificate)
        assert ident.chain == (root.certificate,)
    # the plan says so too
    r = cli("plan", str(tmp_path / "4.6.1.toml"))
    assert "self-signed (Perfigo root)" in r.out


def test_release_rows() -> None:
    def prof(text: str):
        return profile_for(parse_release(text))

    # mutual CAM/CAS verification from 4.5
    assert prof("4.1.8").mutual_verification is False
    assert prof("4.4.9").mutual_verification is False
    assert prof("4.5.0").mutual_verification is True
    assert prof("4.9.1").mutual_verification is True
    # who signs the temporary certificate: Perfigo before 4.7, itself from 4.7
    assert prof("4.6.9").temp_cert_signer == "perfigo"
    assert prof("4.7.0").temp_cert_signer == "self"
    # its validity: 3 months from 4.7.2 (the FAQ: "If you're using version 4.7.2 ... 3
    # months only"), 5 years from 4.8; 4.7.0 and 4.7.1 keep the year of the rows before
    assert prof("4.6.9").temp_cert_days == 365
    assert prof("4.7.0").temp_cert_days == 365
    assert prof("4.7.1").temp_cert_days == 365
    assert prof("4.7.2").temp_cert_days == 90
    assert prof("4.7.9").temp_cert_days == 90
    assert prof("4.8").temp_cert_days == 5 * 365 + 1
    assert prof("4.9.1").temp_cert_days == 5 * 365 + 1
    # the IPsec heartbeat from 4.7, DN authorization from 4.9
    assert prof("4.6.1").ha_ipsec_heartbeat is False
    assert prof("4.7.2").ha_ipsec_heartbeat is True
    assert prof("4.8.3").dn_authorization is False
    assert prof("4.9.0").dn_authorization is True
    # rows are ordered and each starts a release train
    assert [r.since for r in RELEASES] == sorted(r.since for r in RELEASES)
    assert parse_release("4.8") == Release(4, 8, 0)


@pytest.mark.parametrize("text", ["5.0", "5.0.1", "3.9", "3.6.4", "10.0", "4", "banana", ""])
def test_unknown_releases_are_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_release(text)
    assert info.value.hint


def test_plan_reads_the_profile(tmp_path: Path) -> None:
    def plan_for(release: str):
        text = deployment(release=release, source="self-signed", cas=[ha_pair("c", "10.1.0")])
        return make_plan(load_deployment(write(tmp_path / f"{release}.toml", text)))

    old, new = plan_for("4.6.1"), plan_for("4.9.1")
    assert [p.validity_days for p in plan_for("4.7.2").identities] == [90, 90]
    assert "ha-heartbeat" not in [c.value for c in old.identities[1].channels]
    assert "ha-heartbeat" in [c.value for c in new.identities[1].channels]


def test_plan_json_validity_per_release(cli: CliRunner, tmp_path: Path) -> None:
    for release, days in (("4.7.2", 90), ("4.8.0", 1826)):
        text = deployment(release=release, source="self-signed", cas=[standalone("c", "10.1.0.1")])
        r = cli("plan", str(write(tmp_path / "d.toml", text)), "--json", home_dir=None)
        assert [i["validity_days"] for i in json.loads(r.out)["identities"]] == [days, days]


def test_no_release_is_hard_coded_outside_the_table() -> None:
    """Nothing but topology/releases.py names a CCA release in code."""
    src = REPO / "src" / "ccapki"
    offenders = []
    for path in src.rglob("*.py"):
        if path == src / "topology" / "releases.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Release":
                offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value in ("4.5", "4.7", "4.8", "4.9")
                for c in node.comparators
            ):
                offenders.append(f"{path}:{node.lineno}")
    assert offenders == []
