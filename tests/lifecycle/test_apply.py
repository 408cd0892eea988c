"""Item 7: ``ccapki apply`` issues every identity from its source, idempotently, and the
certificates are right (checked with cryptography here, with openssl in test_openssl.py)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder
from cryptography.x509.verification import Store as TrustStore

from ccapki.store import Store, StoredIdentity
from ccapki.topology.loader import load_deployment
from ccapki.topology.plan import make_plan
from kit.certs import NOW, san_names
from kit.cli import CliRunner, db_bytes, deployment, ha_pair, standalone, write

MIXED = deployment(
    cas=[
        ha_pair("cas1", "10.1.0", source="self-signed"),
        standalone("cas2", "10.2.0.1", source="perfigo"),
        standalone("cas3", "10.3.0.1", source="third-party"),
        ha_pair("cas4", "10.4.0", key="rsa-2048"),
    ]
)
TABLES = ("certificates", "keys", "cas", "audit", "deployments")


def _counts(home: Path) -> dict[str, int]:
    with Store.open(home) as store:
        return {t: store.count(t) for t in TABLES}


def _verify_server(
    leaf: x509.Certificate, chain: tuple[x509.Certificate, ...], root: x509.Certificate, name: str
) -> list[x509.Certificate]:
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        san = x509.DNSName(name)
    verifier = (
        PolicyBuilder()
        .store(TrustStore([root]))
        .time(NOW + dt.timedelta(hours=1))
        .build_server_verifier(san)
    )
    return verifier.verify(leaf, [c for c in chain if c != root])


@pytest.fixture
def mixed(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> tuple[Path, dict[str, StoredIdentity]]:
    path = write(tmp_path / "mixed.toml", MIXED)
    r = cli("apply", str(path))
    assert r.code == 0, r.both
    assert "created CA Perfigo Root CA" in r.out
    assert "created CA Test Org Clean Access Root CA" in r.out
    assert "created CA Test Org Clean Access Appliance CA" in r.out
    for name in ("cam", "cas1", "cas2", "cas4"):
        assert f"issued {name} v1 (expires " in r.out
    assert "cas3: make a CSR (ccapki csr) and send it to the CA\n" in r.out, r.out
    with Store.open(keyfile_store) as store:
        return path, store.identities.current()


def test_apply_issues_each_identity_from_its_source(
    mixed: tuple[Path, dict[str, StoredIdentity]], keyfile_store: Path
) -> None:
    _, idents = mixed
    assert set(idents) == {"cam", "cas1", "cas2", "cas4"}  # third-party: only planned
    with Store.open(keyfile_store) as store:
        cas = {c.kind: c.certificate for c in store.cas.list()}
    assert set(cas) == {"perfigo-root", "internal-root", "internal-ca"}

    # self-signed (4.8): its own root
    s = idents["cas1"]
    assert s.source == "self-signed"
    assert s.certificate.subject == s.certificate.issuer
    s.certificate.verify_directly_issued_by(s.certificate)
    assert s.chain == ()
    assert _verify_server(s.certificate, (), s.certificate, "cas1.example.org")

    # perfigo: the shared Perfigo-style root
    p = idents["cas2"]
    assert p.source == "perfigo"
    assert p.chain == (cas["perfigo-root"],)
    p.certificate.verify_directly_issued_by(cas["perfigo-root"])
    built = _verify_server(p.certificate, p.chain, cas["perfigo-root"], "cas2.example.org")
    assert built == [p.certificate, cas["perfigo-root"]]

    # internal: intermediate then root
    for name in ("cam", "cas4"):
        i = idents[name]
        assert i.source == "internal"
        assert i.chain == (cas["internal-ca"], cas["internal-root"])
        i.certificate.verify_directly_issued_by(cas["internal-ca"])
        cas["internal-ca"].verify_directly_issued_by(cas["internal-root"])


def _ext(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(cls)


def test_internal_chain_extensions(
    mixed: tuple[Path, dict[str, StoredIdentity]], tmp_path: Path
) -> None:
    path, idents = mixed
    plan = make_plan(load_deployment(path))
    for name in ("cam", "cas4"):
        ident = idents[name]
        leaf, (inter, root) = ident.certificate, ident.chain
        # basicConstraints: root pathLen 1, intermediate pathLen 0, leaf CA:FALSE; all critical
        for cert, ca, plen in ((root, True, 1), (inter, True, 0), (leaf, False, None)):
            bc = _ext(cert, x509.BasicConstraints)
            assert bc.critical
            assert bc.value.ca is ca
            assert bc.value.path_length == plen
            ku = _ext(cert, x509.KeyUsage)
            assert ku.critical
            assert ku.value.key_cert_sign is ca
            assert ku.value.crl_sign is ca
            assert ku.value.digital_signature
        # RSA leaves also allow key encipherment (TLS RSA key exchange); EC leaves do not
        leaf_ku = _ext(leaf, x509.KeyUsage).value
        assert leaf_ku.key_encipherment is isinstance(leaf.public_key(), rsa.RSAPublicKey)
        eku = _ext(leaf, x509.ExtendedKeyUsage)
        assert list(eku.value) == [
            ExtendedKeyUsageOID.SERVER_AUTH,
            ExtendedKeyUsageOID.CLIENT_AUTH,
        ]

        # SKI/AKI link leaf -> intermediate -> root
        def ski(c: x509.Certificate) -> bytes:
            return _ext(c, x509.SubjectKeyIdentifier).value.digest

        def aki(c: x509.Certificate) -> bytes | None:
            return _ext(c, x509.AuthorityKeyIdentifier).value.key_identifier

        assert aki(leaf) == ski(inter)
        assert aki(inter) == ski(root)
        assert aki(root) == ski(root)
        assert ski(leaf) == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key()).digest
        # SANs are the plan's
        planned = plan.get(name)
        dns, ips = san_names(leaf)
        assert dns == list(planned.spec.dns_names)
        assert ips == [str(i) for i in planned.spec.ip_addresses]
        assert leaf.subject == planned.request.subject
        assert leaf.not_valid_after_utc == NOW + dt.timedelta(days=planned.validity_days)
        # cryptography's RFC 5280 verifier: server by every name, and as a TLS client
        for n in [*dns, *ips]:
            assert _verify_server(leaf, ident.chain, root, n) == [leaf, inter, root]
        client = (
            PolicyBuilder()
            .store(TrustStore([root]))
            .time(NOW + dt.timedelta(hours=1))
            .build_client_verifier()
            .verify(leaf, [inter])
        )
        assert client.chain == [leaf, inter, root]
    # the HA pair's identity names the Service IP, the virtual name and both peers
    dns, ips = san_names(idents["cas4"].certificate)
    assert set(dns) == {"cas4.example.org", "cas4-a.example.org", "cas4-b.example.org"}
    assert set(ips) == {"10.4.0.10", "10.4.0.11", "10.4.0.12"}


def test_wrong_name_fails_verification(mixed: tuple[Path, dict[str, StoredIdentity]]) -> None:
    """The verifier above is not a rubber stamp."""
    ident = mixed[1]["cas4"]
    with pytest.raises(x509.verification.VerificationError):
        _verify_server(ident.certificate, ident.chain, ident.chain[-1], "cas2.example.org")
    with pytest.raises(x509.verification.VerificationError):
        _verify_server(
            ident.certificate, ident.chain, mixed[1]["cas1"].certificate, "cas4.example.org"
        )


def test_apply_is_idempotent(
    cli: CliRunner, keyfile_store: Path, mixed: tuple[Path, dict[str, StoredIdentity]]
) -> None:
    path, idents = mixed
    before = _counts(keyfile_store)
    assert before["certificates"] == 4
    r = cli("apply", str(path))
    assert r.code == 0
    assert "issued" not in r.out
    assert "created CA" not in r.out
    assert _counts(keyfile_store) == before
    with Store.open(keyfile_store) as store:
        assert {n: i.fingerprint for n, i in store.identities.current().items()} == {
            n: i.fingerprint for n, i in idents.items()
        }


def test_second_run_says_nothing_to_do(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    assert cli("apply", str(path)).code == 0
    before = _counts(keyfile_store)
    r = cli("apply", str(path))
    assert r.code == 0
    assert r.out.strip().endswith("nothing to do: every identity is issued and current")
    assert _counts(keyfile_store) == before
    data = json.loads(cli("apply", str(path), "--json").out)
    assert data["issued"] == []
    assert {a["action"] for a in data["actions"]} == {"nothing"}


def test_changed_plan_issues_only_what_changed(
    cli: CliRunner,
    keyfile_store: Path,
    mixed: tuple[Path, dict[str, StoredIdentity]],
    tmp_path: Path,
) -> None:
    _, idents = mixed
    text = MIXED.replace('ip = "10.2.0.1"', 'ip = ["10.2.0.1", "10.2.9.9"]')  # a new SAN
    text = text.replace('name = "cas1"', 'name = "cas1"\nkey = "ecdsa-p384"')  # a new key type
    text += "[[cas]]\n" + standalone("cas5", "10.5.0.1")  # a new identity
    changed = write(tmp_path / "changed.toml", text)
    dry = cli("apply", str(changed), "--dry-run")
    assert dry.code == 0
    assert "would reissue cas1" in dry.out
    assert "would reissue cas2" in dry.out
    assert "would issue cas5" in dry.out
    assert "cam" not in dry.out
    r = cli("apply", str(changed), "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert sorted(data["issued"]) == ["cas1", "cas2", "cas5"]
    assert data["created_cas"] == []
    with Store.open(keyfile_store) as store:
        now = store.identities.current()
        versions = {n: i.version for n, i in now.items()}
    assert versions == {"cam": 1, "cas1": 2, "cas2": 2, "cas4": 1, "cas5": 1}
    assert now["cam"].fingerprint == idents["cam"].fingerprint
    assert now["cas4"].fingerprint == idents["cas4"].fingerprint
    assert "10.2.9.9" in san_names(now["cas2"].certificate)[1]
    pub = now["cas1"].certificate.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.curve.name == "secp384r1"
    assert now["cas5"].chain == now["cam"].chain  # the same internal CA, not a new one


def test_dry_run_writes_nothing(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.toml", MIXED)
    before = db_bytes(keyfile_store)
    files = sorted(p.name for p in keyfile_store.iterdir())
    r = cli("apply", str(path), "--dry-run")
    assert r.code == 0
    for name in ("cam", "cas1", "cas2", "cas4"):
        assert f"would issue {name}: no certificate yet" in r.out
    assert "cas3: make a CSR (ccapki csr) and send it to the CA\n" in r.out, r.out
    assert db_bytes(keyfile_store) == before
    assert sorted(p.name for p in keyfile_store.iterdir()) == files
    data = json.loads(cli("apply", str(path), "--dry-run", "--json").out)
    assert data["dry_run"] is True
    assert data["issued"] == []
    assert db_bytes(keyfile_store) == before


KEY_TYPES = {
    "ecdsa-p256": ("ec", 256),
    "ecdsa-p384": ("ec", 384),
    "rsa-2048": ("rsa", 2048),
    "rsa-3072": ("rsa", 3072),
    "rsa-4096": ("rsa", 4096),
}


def test_every_key_type(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    blocks = [
        standalone(f"cas{n}", f"10.{n}.0.1", key=kt, source="internal" if n % 2 else "self-signed")
        for n, kt in enumerate(KEY_TYPES, start=1)
    ]
    path = write(tmp_path / "keys.toml", deployment(cas=blocks))
    assert cli("apply", str(path)).code == 0
    with Store.open(keyfile_store) as store:
        idents = store.identities.current()
        key_rows = {(k.identity, k.key_type) for k in store.keys.list()}
    for n, (kt, (family, bits)) in enumerate(KEY_TYPES.items(), start=1):
        pub = idents[f"cas{n}"].certificate.public_key()
        if family == "ec":
            assert isinstance(pub, ec.EllipticCurvePublicKey)
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            assert pub.public_numbers().e == 65537
        assert pub.key_size == bits
        assert (f"cas{n}", kt) in key_rows
