"""Issue 3, points 4-5: HA transfer and ``check-ha``; ``export-roots`` for clients."""

from __future__ import annotations

import datetime as dt
import plistlib
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from ccapki.lifecycle.certfiles import client_roots, public_roots
from ccapki.pki.issue import IdentityRequest, issue_identity
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store import CertSource, IdentityRecord
from kit.certs import NOW, OutsideCA, sha256
from kit.cli import CliRunner, ha_pair, ok, standalone, write

from .conftest import deployment, open_store

HA_DEP = deployment(cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-one", "10.6.0.1")])


@pytest.fixture
def ha(cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path) -> Path:
    deployed(HA_DEP)
    out = tmp_path / "ha"
    out.mkdir()
    return out


def _p12(path: Path, key: object, cert: x509.Certificate, pw: bytes = b"pw-12345") -> Path:
    data = pkcs12.serialize_key_and_certificates(
        b"peer",
        key,  # type: ignore[arg-type]
        cert,
        None,
        serialization.BestAvailableEncryption(pw),
    )
    return write(path, data)


# ---------------------------------------------------------------------------- 4. HA


def test_export_for_peer_makes_a_pkcs12_of_the_pair_identity(
    cli: CliRunner, ha: Path, home: Path
) -> None:
    path = ha / "peer.p12"
    r = ok(cli("export", "cas-ha", "--for-peer", "--out", path, "--password", "move-it-now"))
    assert "install it on cas-ha-b (the secondary)" in r.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    p12 = pkcs12.load_pkcs12(path.read_bytes(), b"move-it-now")
    with open_store(home) as store:
        ident = store.identities.get("cas-ha")
        log = [a for a in store.audit.log() if a.action == "key-export"]
    assert ident is not None
    assert p12.cert is not None
    assert p12.cert.certificate == ident.certificate
    assert p12.key is not None
    assert public_key_fingerprint(p12.key) == ident.spki
    assert log[0].detail["for_peer"] is True
    # a standalone appliance has no peer
    r = cli("export", "cas-one", "--for-peer", "--out", ha / "x.p12", "--password", "x-123456")
    assert r.code == 2
    assert "not an HA pair" in r.err


def test_check_ha_from_the_store_passes(cli: CliRunner, ha: Path) -> None:
    r = ok(cli("check-ha", "cas-ha"))
    assert "cas-ha: fit for HA" in r.out
    assert "FAIL" not in r.out
    js = ok(cli("check-ha", "cas-ha", "--json")).json()
    assert js["ok"] is True
    assert all(c["ok"] for c in js["checks"])
    r = cli("check-ha", "cas-one")
    assert r.code == 2
    assert "not an HA pair" in r.err


def test_check_ha_files_same_bundle_on_both_passes(cli: CliRunner, ha: Path) -> None:
    peer = ha / "peer.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", peer, "--password", "pw-12345"))
    r = ok(
        cli("check-ha", "cas-ha", "--primary", peer, "--secondary", peer, "--password", "pw-12345")
    )
    assert "cas-ha: fit for HA" in r.out
    # the primary's PEM upload bundle against the secondary's PKCS#12: the same identity
    bundle = ha / "primary.pem"
    ok(cli("export", "cas-ha", "--format", "pem-bundle", "--out", bundle))
    ok(
        cli(
            "check-ha", "cas-ha", "--primary", bundle, "--secondary", peer, "--password", "pw-12345"
        )
    )


def test_check_ha_secondary_with_other_key_and_cert_is_broken(
    cli: CliRunner, ha: Path, home: Path
) -> None:
    peer = ha / "peer.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", peer, "--password", "pw-12345"))
    # the secondary regenerated its temporary certificate: same names, a new key
    plan = ok(cli("plan", "--json")).json()
    spec = next(i for i in plan["identities"] if i["name"] == "cas-ha")
    import ipaddress

    req = IdentityRequest(
        spec["common_name"],
        tuple(spec["san_dns"]),
        tuple(ipaddress.ip_address(i) for i in spec["san_ip"]),
    )
    key = generate_key(KeyType.ECDSA_P256)
    own = issue_identity(req, key.public_key(), now=NOW, days=1826, self_key=key)
    other = _p12(ha / "secondary.p12", key, own)
    r = cli("check-ha", "cas-ha", "--primary", peer, "--secondary", other, "--password", "pw-12345")
    assert r.code == 1, r.both
    assert "HA broken" in r.out
    assert "FAIL  same certificate on both peers" in r.out
    assert "FAIL  same private key on both peers" in r.out
    assert "--for-peer" in r.out  # the fix
    js = cli(
        "check-ha",
        "cas-ha",
        "--primary",
        peer,
        "--secondary",
        other,
        "--password",
        "pw-12345",
        "--json",
    ).json()
    failed = {c["item"] for c in js["checks"] if not c["ok"]}
    assert failed == {
        "same certificate on both peers",
        "same private key on both peers",
        "the store's current certificate on both peers",  # the secondary's is not cas-ha's
    }

    # the right certificate on the secondary, but with a key that is not its own
    with open_store(home) as store:
        ident = store.identities.get("cas-ha")
    assert ident is not None
    wrong_key = ha / "wrong-key.pem"
    write(
        wrong_key,
        ident.certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    r = cli(
        "check-ha", "cas-ha", "--primary", peer, "--secondary", wrong_key, "--password", "pw-12345"
    )
    assert r.code == 1
    assert "FAIL  secondary key matches its certificate" in r.out
    assert "HA broken" in r.out


def test_check_ha_expired_certificate_fails(cli: CliRunner, ha: Path, home: Path) -> None:
    with open_store(home) as store:
        ident = store.identities.get("cas-ha")
    assert ident is not None
    later = ident.not_after + dt.timedelta(days=1)
    r = cli("check-ha", "cas-ha", now=later)
    assert r.code == 1, r.both
    assert "FAIL  valid now" in r.out
    assert "HA broken" in r.out
    # expiry is one finding, not repeated as a key-usage problem
    assert "pass  key usage fit for the heartbeat" in r.out
    failed = {
        c["item"]
        for c in cli("check-ha", "cas-ha", "--json", now=later).json()["checks"]
        if not c["ok"]
    }
    assert failed == {"valid now (the IPsec heartbeat fails on an expired certificate)"}
    peer = ha / "peer.p12"
    ok(cli("export", "cas-ha", "--for-peer", "--out", peer, "--password", "pw-12345"))
    r = cli(
        "check-ha",
        "cas-ha",
        "--primary",
        peer,
        "--secondary",
        peer,
        "--password",
        "pw-12345",
        now=later,
    )
    assert r.code == 1
    assert "HA broken" in r.out


# ---------------------------------------------------------------------------- 5. roots


def test_export_roots_internal_every_format(cli: CliRunner, ha: Path, home: Path) -> None:
    out = ha / "roots"
    r = ok(cli("export-roots", "--out", out))
    with open_store(home) as store:
        root = store.identities.current()["cam"].chain[-1]
    assert (
        "install on clients: Workflow Org Clean Access Root CA (for cam, cas-ha, cas-one)" in r.out
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "INSTALL.txt",
        "ccapki-root-1.cer",
        "ccapki-root-1.crt",
        "ccapki-roots.mobileconfig",
        "ccapki-roots.p7b",
        "ccapki-roots.pem",
    ]
    assert x509.load_pem_x509_certificates((out / "ccapki-roots.pem").read_bytes()) == [root]
    assert x509.load_der_x509_certificate((out / "ccapki-root-1.cer").read_bytes()) == root
    p7 = (out / "ccapki-roots.p7b").read_bytes()
    loaded = (
        pkcs7.load_pem_pkcs7_certificates(p7)
        if p7.startswith(b"-----")
        else pkcs7.load_der_pkcs7_certificates(p7)
    )
    assert loaded == [root]
    profile = plistlib.loads((out / "ccapki-roots.mobileconfig").read_bytes())
    assert profile["PayloadType"] == "Configuration"
    payloads = profile["PayloadContent"]
    assert [p["PayloadType"] for p in payloads] == ["com.apple.security.root"]
    assert x509.load_der_x509_certificate(payloads[0]["PayloadContent"]) == root
    text = (out / "INSTALL.txt").read_text()
    for platform in ("Windows", "macOS", "Linux"):
        assert platform in text


def test_export_roots_true_self_signed_lists_each_identity(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path, home: Path
) -> None:
    deployed(
        deployment(
            source="self-signed", cas=[ha_pair("cas-ha", "10.5.0"), standalone("c1", "10.6.0.1")]
        )
    )
    out = tmp_path / "roots"
    r = ok(cli("export-roots", "--out", out))
    for name in ("cam", "cas-ha", "c1"):
        assert f"install on clients: {name}'s own certificate (true self-signed)" in r.out
    with open_store(home) as store:
        own = {n: i.certificate for n, i in store.identities.current().items()}
    got = x509.load_pem_x509_certificates((out / "ccapki-roots.pem").read_bytes())
    assert {sha256(c) for c in got} == {sha256(c) for c in own.values()}
    assert len(list(out.glob("*.cer"))) == 3
    js = ok(cli("export-roots", "--out", tmp_path / "roots2", "--json")).json()
    assert {tuple(x["identities"]) for x in js["roots"]} == {("c1",), ("cam",), ("cas-ha",)}
    assert all(x["self_signed_leaf"] and not x["public"] for x in js["roots"])


def test_identity_chained_to_a_public_root_needs_no_client_action(
    cli: CliRunner,
    deployed: Callable[[str], Path],
    outside: OutsideCA,
    tmp_path: Path,
    home: Path,
) -> None:
    """We hold no public root's key, so no real certificate can chain to one here. The store
    is given (through its own API, as ``import --force`` would persist it) a third-party
    identity whose recorded chain ends at a certifi root; this proves the classification in
    ``client_roots`` and ``export-roots``, not a real public chain."""
    deployed(deployment(cas=[standalone("cas-tp", "10.6.0.1", source="third-party")]))
    public_root = public_roots()[0]
    key = generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(
        x509.Name.from_rfc4514_string("CN=cas-tp.example.org"),
        key.public_key(),
        dns=["cas-tp.example.org"],
        ips=["10.6.0.1"],
    )
    with open_store(home) as store:
        store.unlock()
        store.identities.add(
            [
                IdentityRecord(
                    "cas-tp",
                    key,
                    "ecdsa-p256",
                    leaf,
                    (outside.inter, public_root),
                    CertSource.THIRD_PARTY,
                )
            ]
        )
        roots = {tuple(c.identities): c for c in client_roots(store)}
    assert roots[("cas-tp",)].public is True
    assert roots[("cas-tp",)].certificate == public_root
    assert roots[("cam",)].public is False
    out = tmp_path / "roots"
    r = ok(cli("export-roots", "--out", out))
    assert "no client action: cas-tp chain to public root" in r.out
    assert "install on clients: Workflow Org Clean Access Root CA (for cam)" in r.out
    listed = x509.load_pem_x509_certificates((out / "ccapki-roots.pem").read_bytes())
    assert public_root not in listed
    assert len(listed) == 1
