"""Item 8: ``ccapki inspect`` on identities and files, in the FAQ's words for each signer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from ccapki.store import Store, StoredIdentity
from kit.certs import NOW
from kit.cli import CliRunner, deployment, ha_pair, standalone, write

SELF = "true self-signed: the certificate is its own root; install it on clients"
PERFIGO = "signed by the Perfigo root"
INTERNAL = "signed by internal CA Test Org Clean Access Appliance CA"


@pytest.fixture
def issued(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> dict[str, StoredIdentity]:
    text = deployment(
        cas=[
            standalone("cas1", "10.1.0.1", source="self-signed", key="ecdsa-p384"),
            standalone("cas2", "10.2.0.1", source="perfigo"),
            ha_pair("cas4", "10.4.0"),
        ]
    )
    assert cli("apply", str(write(tmp_path / "d.toml", text))).code == 0
    with Store.open(keyfile_store) as store:
        return store.identities.current()


def _colon(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


@pytest.mark.parametrize(
    ("name", "sentence", "kind"),
    [("cas1", SELF, "self-signed"), ("cas2", PERFIGO, "perfigo"), ("cas4", INTERNAL, "internal")],
)
def test_inspect_identity_in_the_faq_words(
    cli: CliRunner, issued: dict[str, StoredIdentity], name: str, sentence: str, kind: str
) -> None:
    cert = issued[name].certificate
    text = cli("inspect", name)
    assert text.code == 0
    assert sentence.removeprefix("signed by ") in text.out  # the row is labelled "signed by"
    assert f"{name} v1" in text.out
    assert _colon(cert) in text.out
    data = json.loads(cli("inspect", name, "--format", "json").out)
    assert data["signed_by"] == sentence
    assert data["signed_by_kind"] == kind
    assert data["sha256"] == _colon(cert)
    assert data["not_after"] == cert.not_valid_after_utc.isoformat()
    assert data["status"] == "valid"
    assert data["is_ca"] is False
    assert data["eku"] == ["serverAuth", "clientAuth"]
    assert data["subject"] == cert.subject.rfc4514_string()
    assert data["issuer"] == cert.issuer.rfc4514_string()


def test_inspect_json_facts(cli: CliRunner, issued: dict[str, StoredIdentity]) -> None:
    data = json.loads(cli("inspect", "cas4", "--format", "json").out)
    assert data["san_dns"] == ["cas4.example.org", "cas4-a.example.org", "cas4-b.example.org"]
    assert data["san_ip"] == ["10.4.0.10", "10.4.0.11", "10.4.0.12"]
    assert data["common_name"] == "cas4.example.org"
    assert data["key"] == "ECDSA P-256"
    assert data["key_bits"] == 256
    assert data["days_left"] == 397
    p384 = json.loads(cli("inspect", "cas1", "--format", "json").out)
    assert (p384["key"], p384["key_bits"]) == ("ECDSA P-384", 384)
    assert p384["signature_algorithm"] == "ecdsa-with-sha384"
    # an appliance name finds its pair's identity
    peer = json.loads(cli("inspect", "cas4-b", "--format", "json").out)
    assert peer["sha256"] == data["sha256"]
    # the clock moves: days left and status follow CCAPKI_NOW
    later = cli("inspect", "cas4", "--format", "json", now=NOW + dt.timedelta(days=400))
    assert json.loads(later.out)["status"] == "expired"
    assert json.loads(later.out)["days_left"] < 0
    all_json = json.loads(cli("inspect", "cas4", "--format", "json", "--all").out)
    assert [d["signed_by_kind"] for d in all_json] == ["internal", "internal", "root-ca"]


def test_inspect_pem(cli: CliRunner, issued: dict[str, StoredIdentity]) -> None:
    one = cli("inspect", "cas4", "--format", "pem")
    assert one.code == 0
    certs = x509.load_pem_x509_certificates(one.out.encode())
    assert certs == [issued["cas4"].certificate]
    full = cli("inspect", "cas4", "--format", "pem", "--all").out
    assert x509.load_pem_x509_certificates(full.encode()) == [
        issued["cas4"].certificate,
        *issued["cas4"].chain,
    ]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_inspect_files(
    cli: CliRunner,
    issued: dict[str, StoredIdentity],
    tmp_path: Path,
    encoding: serialization.Encoding,
) -> None:
    ext = "pem" if encoding is serialization.Encoding.PEM else "der"
    for name, sentence in (("cas1", SELF), ("cas2", PERFIGO), ("cas4", INTERNAL)):
        path = tmp_path / f"{name}.{ext}"
        path.write_bytes(issued[name].certificate.public_bytes(encoding))
        r = cli("inspect", str(path))
        assert r.code == 0, r.both
        assert sentence.removeprefix("signed by ") in r.out
        assert str(path) in r.out
        data = json.loads(cli("inspect", str(path), "--format", "json").out)
        assert data["sha256"] == _colon(issued[name].certificate)
        back = cli("inspect", str(path), "--format", "pem").out
        assert x509.load_pem_x509_certificate(back.encode()) == issued[name].certificate


def test_inspect_third_party_bundle(cli: CliRunner, tmp_path: Path) -> None:
    """A certificate from an outside CA, minted here: named by its issuing CA's CN."""
    root_key = generate_key(KeyType.ECDSA_P384)
    root = make_root_ca(
        "Example Trust Root R9", root_key, now=NOW, days=3650, organization="Example Trust"
    )
    inter_key = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, root_key),
        "Example Trust TLS CA 2026",
        inter_key.public_key(),
        now=NOW,
        days=1825,
        organization="Example Trust",
    )
    leaf_key = generate_key(KeyType.ECDSA_P256)
    leaf = issue_identity(
        IdentityRequest("cas.example.com", ("cas.example.com",)),
        leaf_key.public_key(),
        now=NOW,
        days=90,
        issuer=Issuer(inter, inter_key),
    )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, inter))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem)
    wording = "signed by Example Trust TLS CA 2026 (third-party CA)"
    r = cli("inspect", str(bundle), home_dir=None)
    assert r.code == 0, r.both
    assert wording.removeprefix("signed by ") in r.out
    assert "(+1 chain certificate:" in r.out  # one: singular (issue 8 item 15)
    data = json.loads(cli("inspect", str(bundle), "--format", "json", "--all", home_dir=None).out)
    assert data[0]["signed_by"] == wording
    assert data[0]["signed_by_kind"] == "third-party"
    assert data[1]["signed_by"] == "signed by Example Trust Root R9 (third-party CA)"
    # the leaf alone is still named by its issuer
    alone = tmp_path / "leaf.der"
    alone.write_bytes(leaf.public_bytes(serialization.Encoding.DER))
    assert wording.removeprefix("signed by ") in cli("inspect", str(alone), home_dir=None).out
    # the root alone: a self-signed CA
    rootfile = write(tmp_path / "root.pem", root.public_bytes(serialization.Encoding.PEM).decode())
    data = json.loads(cli("inspect", str(rootfile), "--format", "json", home_dir=None).out)
    assert data["signed_by_kind"] == "root-ca"
    assert data["is_ca"] is True


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x8f\x00\x13garbage\xff" * 40, "neither PEM nor DER"),
        (b"", "is empty"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "truncated PEM"),
        (b"just some words\n", ""),
    ],
    ids=["garbage", "empty", "truncated-pem", "text"],
)
def test_inspect_bad_files(cli: CliRunner, tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.crt"
    path.write_bytes(content)
    r = cli("inspect", str(path), home_dir=None)
    assert r.code == 2
    assert r.out == ""
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {path}")
    assert words in first
    assert hint.startswith("hint: ")


def test_inspect_folder_and_unknown_target(
    cli: CliRunner, issued: dict[str, StoredIdentity], tmp_path: Path
) -> None:
    r = cli("inspect", str(tmp_path))
    assert r.code == 2
    assert r.err.startswith(f"error: {tmp_path}: is a folder, not a file")
    r = cli("inspect", "cas-nowhere")
    assert r.code == 2
    assert "error: no identity or appliance named 'cas-nowhere'" in r.err
    assert "hint: use one of: cam, cas1, cas2, cas4" in r.err
    r = cli("inspect", "cas-nowhere", home_dir=tmp_path / "no-store")
    assert r.code == 2
    assert r.err.startswith("error: 'cas-nowhere' is not a file, and there is no ccapki store")
    assert "\nhint: " in r.err


def test_inspect_text_shows_certificate_fields_verbatim(cli: CliRunner, tmp_path: Path) -> None:
    """Certificate text is data, not Rich markup or emoji codes (":AB:" in a fingerprint)."""
    key = generate_key(KeyType.ECDSA_P256)
    odd = "cas :ab: [red]x[/red] :smile:"
    cert = issue_identity(
        IdentityRequest(odd, ("cas.example.org",)), key.public_key(), now=NOW, days=30, self_key=key
    )
    path = tmp_path / "odd.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    r = cli("inspect", str(path), home_dir=None)
    assert r.code == 0
    assert f"CN={odd}" in r.out
    assert _colon(cert) in r.out


def test_json_flag_is_format_json(cli: CliRunner, tmp_path: Path) -> None:
    """`--json`, as every other reporting command takes it (second walkthrough)."""
    from kit.certs import mint, pem

    path = tmp_path / "leaf.pem"
    path.write_bytes(pem(mint("cas9.example.org").cert))
    by_flag = cli("inspect", path, "--json")
    assert by_flag.code == 0, by_flag.both
    assert by_flag.json() == cli("inspect", path, "--format", "json").json()
    assert cli("inspect", path, "--json", "--format", "pem").code == 2
