"""Issue 3, points 1-2: ``csr`` and ``import`` end to end, an outside CA signing our CSRs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store import KeyState
from kit.certs import NOW, OutsideCA, pem
from kit.cli import CliRunner, db_bytes, ha_pair, ok, standalone, write
from kit.tools import openssl

from .conftest import THIRD_PARTY_DEP, deployment, open_store, tp_names

TP_SUBJECT = build_name("cas-tp.example.org", "Workflow Org")


@dataclass
class Pending:
    """A store with the third-party deployment applied and one CSR made for cas-tp."""

    home: Path
    csr_path: Path
    csr: x509.CertificateSigningRequest
    spki: str
    out: Path


@pytest.fixture
def pending(cli: CliRunner, deployed: Callable[[str], Path], home: Path, tmp_path: Path) -> Pending:
    deployed(THIRD_PARTY_DEP)
    out = tmp_path / "csr1"
    ok(cli("csr", "cas-tp", "--out", out))
    path = out / "cas-tp.csr"
    csr = x509.load_pem_x509_csr(path.read_bytes())
    return Pending(home, path, csr, public_key_fingerprint(csr.public_key()), tmp_path)


def keys_json(cli: CliRunner) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    return rows


def snapshot(cli: CliRunner, home: Path) -> tuple[str, dict[str, list[int]], int]:
    """Everything an import could change: keys, every identity's history, stored CAs."""
    keys = json.dumps(keys_json(cli), sort_keys=True)
    with open_store(home) as store:
        hist = {
            n: [v.version for v in store.identities.history(n)]
            for n in ("cam", "cas-ha", "cas-tp", "cas-tp2")
        }
        cas = len(store.cas.list())
    return keys, hist, cas


def current_tp(home: Path) -> Any:
    with open_store(home) as store:
        return store.identities.get("cas-tp")


# ---------------------------------------------------------------------------- 1. csr


@pytest.mark.integration
def test_csr_is_a_valid_pkcs10_with_the_plans_names(
    cli: CliRunner, pending: Pending, outside: OutsideCA
) -> None:
    plan = ok(cli("plan", "--json")).json()
    spec = next(i for i in plan["identities"] if i["name"] == "cas-tp")
    csr = pending.csr
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == spec["subject"]
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == spec["common_name"]
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(spec["san_dns"])
    assert sorted(str(i) for i in san.get_values_for_type(x509.IPAddress)) == sorted(spec["san_ip"])
    r = openssl("req", "-verify", "-noout", "-in", str(pending.csr_path))
    assert r.returncode == 0, r.stderr
    assert "verif" in (r.stdout + r.stderr).lower()
    # the key is sealed in the store, pending, for cas-tp
    rows = [k for k in keys_json(cli) if k["fingerprint"] == pending.spki]
    assert len(rows) == 1
    assert (rows[0]["identity"], rows[0]["state"]) == ("cas-tp", "pending")
    assert b"PRIVATE KEY" not in db_bytes(pending.home)


def test_second_csr_keeps_the_first_key_and_the_older_csr_still_imports(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    r = ok(cli("csr", "cas-tp", "--out", tmp_path / "csr2"))
    assert "1 older pending key kept" in r.out
    second = x509.load_pem_x509_csr((tmp_path / "csr2" / "cas-tp.csr").read_bytes())
    spki2 = public_key_fingerprint(second.public_key())
    assert spki2 != pending.spki
    pend = {k["fingerprint"] for k in keys_json(cli) if k["state"] == "pending"}
    assert {pending.spki, spki2} <= pend
    text = ok(cli("keys", "list")).out
    assert pending.spki[:16] in text
    assert spki2[:16] in text

    # the CA answers the FIRST (older) CSR
    cert = outside.sign_csr(pending.csr)
    files = [
        write(tmp_path / "ret" / "cert.pem", pem(cert)),
        write(tmp_path / "ret" / "chain.pem", pem(outside.inter) + pem(outside.root)),
    ]
    r = ok(cli("import", *files))
    assert "imported cas-tp v1" in r.out
    assert "key from store" in r.out
    states = {k["fingerprint"]: k["state"] for k in keys_json(cli)}
    assert states[pending.spki] == "active"
    assert states[spki2] == "pending"  # the newer key is still kept
    # the stored key is the one of the first CSR: it matches the certificate
    ok(cli("export", "cas-tp", "--format", "key", "--out", tmp_path / "k.pem"))
    key = serialization.load_pem_private_key((tmp_path / "k.pem").read_bytes(), None)
    assert public_key_fingerprint(key) == public_key_fingerprint(cert.public_key())
    assert current_tp(pending.home).fingerprint == cert.fingerprint(hashes.SHA256()).hex()


def test_csr_all_makes_one_per_third_party_identity(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(
        deployment(
            cas=[
                standalone("cas-tp", "10.6.0.1", source="third-party"),
                ha_pair("cas-tp2", "10.7.0", source="third-party"),
                standalone("cas-int", "10.8.0.1"),
            ]
        )
    )
    ok(cli("csr", "--all", "--out", tmp_path / "all"))
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["cas-tp.csr", "cas-tp2.csr"]


# ---------------------------------------------------------------------------- 2. import forms


def _fresh_key_cert(outside: OutsideCA, **kw: Any) -> tuple[Any, x509.Certificate]:
    """A key the store never saw and a certificate for cas-tp's names on it."""
    key = generate_key(KeyType.ECDSA_P256)
    names = tp_names()
    return key, outside.sign(TP_SUBJECT, key.public_key(), **{**names, **kw})


def _imported(r: Any, key_from: str) -> None:
    assert r.code == 0, r.both
    assert "imported cas-tp v1" in r.out
    assert f"key from {key_from}" in r.out
    assert "chain 2" in r.out


def test_pem_cert_alone_once_the_cas_are_known(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr)
    alone = write(tmp_path / "cas-tp.crt", pem(cert))
    # without its chain the certificate is refused, naming the missing issuer
    r = cli("import", alone)
    assert r.code == 2
    assert "Outside Trust Issuing CA" in r.err
    # the CA's files on their own are kept as CAs; then the certificate alone imports
    r = ok(cli("import", write(tmp_path / "cas.pem", pem(outside.root) + pem(outside.inter))))
    assert "kept CA Outside Trust Issuing CA" in r.out
    assert "kept CA Outside Trust Root" in r.out
    _imported(cli("import", alone), "store")
    ident = current_tp(pending.home)
    assert [c.subject for c in ident.chain] == [outside.inter.subject, outside.root.subject]


def test_cert_and_chain_in_separate_files_any_order(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr)
    files = [
        write(tmp_path / "root.pem", pem(outside.root)),
        write(tmp_path / "cert.pem", pem(cert)),
        write(tmp_path / "inter.pem", pem(outside.inter)),
    ]
    _imported(cli("import", *files), "store")


def test_a_folder(cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path) -> None:
    cert = outside.sign_csr(pending.csr)
    folder = tmp_path / "returned"
    write(folder / "server.cer", cert.public_bytes(serialization.Encoding.DER))
    write(folder / "intermediate.crt", pem(outside.inter))
    write(folder / "root.crt", pem(outside.root))
    _imported(cli("import", folder), "store")


def test_der_certificate_and_der_p7b_chain(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr)
    der = write(tmp_path / "cert.der", cert.public_bytes(serialization.Encoding.DER))
    p7 = pkcs7.serialize_certificates([outside.inter, outside.root], serialization.Encoding.DER)
    _imported(cli("import", der, write(tmp_path / "chain.p7b", p7)), "store")


@pytest.mark.parametrize("encoding", ["PEM", "DER"])
def test_pkcs7_with_cert_and_chain(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path, encoding: str
) -> None:
    cert = outside.sign_csr(pending.csr)
    data = pkcs7.serialize_certificates(
        [outside.root, cert, outside.inter], getattr(serialization.Encoding, encoding)
    )
    _imported(cli("import", write(tmp_path / "cas-tp.p7b", data)), "store")


def _p12(key: Any, cert: x509.Certificate, cas: list[x509.Certificate], legacy: bool) -> bytes:
    if legacy:
        enc = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(b"p12-secret")
        )
    else:
        enc = serialization.BestAvailableEncryption(b"p12-secret")
    return pkcs12.serialize_key_and_certificates(b"cas-tp", key, cert, cas, enc)


@pytest.mark.parametrize("legacy", [False, True], ids=["aes", "legacy-3des"])
def test_pkcs12_with_cert_key_and_chain(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path, legacy: bool
) -> None:
    key, cert = _fresh_key_cert(outside)
    pfx = write(tmp_path / "cas-tp.pfx", _p12(key, cert, list(outside.chain), legacy))
    r = cli("import", pfx)
    assert r.code == 2
    assert "password" in r.err.lower()
    r = cli("import", pfx, "--password", "p12-secret")
    _imported(r, "batch")
    # the walkthrough: nothing said the CSR of cas-tp, on another key, stays pending
    (warning,) = [w.strip() for w in r.out.splitlines() if "has a CSR pending" in w]
    assert warning.startswith(
        f"warning: cas-tp has a CSR pending on another key ({pending.spki[:16]}, made "
    ), r.out
    assert f"`ccapki keys retire {pending.spki[:16]}`" in warning
    rows = {k["fingerprint"]: k for k in keys_json(cli)}
    spki = public_key_fingerprint(key)
    assert (rows[spki]["identity"], rows[spki]["state"]) == ("cas-tp", "active")
    assert rows[pending.spki]["state"] == "pending"  # the CSR's key is still kept
    ok(cli("export", "cas-tp", "--format", "key", "--out", tmp_path / "k.pem"))
    back = serialization.load_pem_private_key((tmp_path / "k.pem").read_bytes(), None)
    assert public_key_fingerprint(back) == spki


_KEY_FORMATS = {
    "pkcs8": (KeyType.ECDSA_P256, serialization.PrivateFormat.PKCS8, None),
    "pkcs8-encrypted": (KeyType.ECDSA_P256, serialization.PrivateFormat.PKCS8, b"key-secret"),
    "sec1": (KeyType.ECDSA_P256, serialization.PrivateFormat.TraditionalOpenSSL, None),
    "pkcs1": (KeyType.RSA_2048, serialization.PrivateFormat.TraditionalOpenSSL, None),
}


@pytest.mark.parametrize("fmt", list(_KEY_FORMATS))
def test_cert_with_its_key_given_by_key_option(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path, fmt: str
) -> None:
    key_type, private_format, password = _KEY_FORMATS[fmt]
    key = generate_key(key_type)
    cert = outside.sign(TP_SUBJECT, key.public_key(), **tp_names())
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    keyfile = write(
        tmp_path / "saved.key", key.private_bytes(serialization.Encoding.PEM, private_format, enc)
    )
    certs = write(tmp_path / "cert.pem", pem(cert) + pem(outside.inter) + pem(outside.root))
    args = ["import", certs, "--key", keyfile]
    if password:
        args += ["--password", password.decode()]
    _imported(cli(*args), "batch")
    assert current_tp(pending.home).spki == public_key_fingerprint(key)


def test_a_batch_of_returned_certificates_in_one_call(
    cli: CliRunner, deployed: Callable[[str], Path], outside: OutsideCA, tmp_path: Path, home: Path
) -> None:
    deployed(
        deployment(
            cam=ha_pair("cam", "10.0.0"),
            cas=[
                standalone("cas-tp", "10.6.0.1", source="third-party"),
                ha_pair("cas-tp2", "10.7.0", source="third-party"),
                standalone("cas-tp3", "10.8.0.1", source="third-party"),
            ],
        )
    )
    ok(cli("csr", "--all", "--out", tmp_path / "csrs"))
    # older CSRs for two identities, so the batch must pick the right key among several
    ok(cli("csr", "cas-tp", "cas-tp3", "--out", tmp_path / "csrs-new"))
    returned = tmp_path / "returned"
    for name in ("cas-tp", "cas-tp2", "cas-tp3"):
        csr = x509.load_pem_x509_csr((tmp_path / "csrs" / f"{name}.csr").read_bytes())
        write(returned / f"{name}.pem", pem(outside.sign_csr(csr)))
    write(returned / "ca-bundle.pem", pem(outside.inter) + pem(outside.root))
    r = ok(cli("import", returned))
    for name in ("cas-tp", "cas-tp2", "cas-tp3"):
        assert f"imported {name} v1" in r.out
    with open_store(home) as store:
        idents = store.identities.current()
        for name in ("cas-tp", "cas-tp2", "cas-tp3"):
            assert idents[name].source == "third-party"
            key = store.keys.private_key(idents[name].spki)
            assert public_key_fingerprint(key) == idents[name].spki
        pending_left = {k.identity for k in store.keys.list(state=KeyState.PENDING)}
    assert pending_left == {"cas-tp", "cas-tp3"}  # the newer CSRs' keys are still kept


# ---------------------------------------------------------------------------- 2. refusals


def test_private_key_not_found_diagnosis_and_nothing_stored(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    before = snapshot(cli, pending.home)
    key, cert = _fresh_key_cert(outside)
    spki = public_key_fingerprint(key)
    files = [
        write(tmp_path / "cert.pem", pem(cert)),
        write(tmp_path / "ca.pem", pem(outside.inter)),
    ]
    r = cli("import", *files)
    assert r.code == 2, r.both
    assert r.out == ""
    error, hint = r.err.splitlines()[0], r.err.splitlines()[1]
    assert error.startswith("error: private key not found")
    assert spki[:16] in error
    assert "pending keys" in error
    assert pending.spki[:16] in error  # the pending key that exists, with its identity
    assert "cas-tp made 2026-11-27" in error
    assert "1 CSR on record" in error  # it does not answer any CSR made here
    assert hint.startswith("hint:")
    assert "--key" in hint
    assert "new CSR" in hint
    assert snapshot(cli, pending.home) == before


def _refused(
    cli: CliRunner, home: Path, files: list[Path], *reasons: str, force_ok: bool = True
) -> None:
    before = snapshot(cli, home)
    r = cli("import", *files)
    assert r.code == 2, r.both
    assert "refused (nothing was imported)" in r.err
    for reason in reasons:
        assert reason in r.err, r.err
    assert "--force" in r.err
    assert snapshot(cli, home) == before
    if force_ok:
        r = ok(cli("import", *files, "--force"))
        assert "imported cas-tp v1" in r.out
        for reason in reasons:
            assert reason in r.out  # shown as a warning


def _ret(tmp_path: Path, cert: x509.Certificate, outside: OutsideCA) -> list[Path]:
    return [
        write(tmp_path / "bad" / "cert.pem", pem(cert)),
        write(tmp_path / "bad" / "chain.pem", pem(outside.inter) + pem(outside.root)),
    ]


def test_refused_names_missing_from_sans(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr, dns=["cas-tp.example.org"], ips=[])
    _refused(
        cli, pending.home, _ret(tmp_path, cert, outside), "names missing from the SANs: 10.6.0.1"
    )


def test_refused_expired(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr, not_before=NOW - dt.timedelta(days=40), days=30)
    expiry = f"{(NOW - dt.timedelta(days=10)):%Y-%m-%d}"
    _refused(cli, pending.home, _ret(tmp_path, cert, outside), f"expired on {expiry}")


def test_refused_not_yet_valid(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    start = NOW + dt.timedelta(days=3)
    cert = outside.sign_csr(pending.csr, not_before=start)
    _refused(cli, pending.home, _ret(tmp_path, cert, outside), f"not valid until {start:%Y-%m-%d}")


def test_refused_without_server_auth(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    _refused(cli, pending.home, _ret(tmp_path, cert, outside), "EKU lacks serverAuth")


def test_refused_incomplete_chain_names_the_missing_issuer(
    cli: CliRunner, pending: Pending, outside: OutsideCA, tmp_path: Path
) -> None:
    cert = outside.sign_csr(pending.csr)
    files = [
        write(tmp_path / "cert.pem", pem(cert)),
        write(tmp_path / "root.pem", pem(outside.root)),  # the intermediate is missing
    ]
    _refused(
        cli,
        pending.home,
        files,
        "the chain is incomplete",
        "CN=Outside Trust Issuing CA,O=Outside Trust",
    )


def test_all_or_nothing_one_good_one_bad(
    cli: CliRunner, deployed: Callable[[str], Path], outside: OutsideCA, tmp_path: Path, home: Path
) -> None:
    deployed(
        deployment(
            cas=[
                standalone("cas-tp", "10.6.0.1", source="third-party"),
                standalone("cas-tp2", "10.7.0.1", source="third-party"),
            ]
        )
    )
    ok(cli("csr", "--all", "--out", tmp_path / "csrs"))
    good = outside.sign_csr(x509.load_pem_x509_csr((tmp_path / "csrs" / "cas-tp.csr").read_bytes()))
    bad = outside.sign_csr(
        x509.load_pem_x509_csr((tmp_path / "csrs" / "cas-tp2.csr").read_bytes()),
        not_before=NOW - dt.timedelta(days=400),
    )
    returned = tmp_path / "returned"
    write(returned / "good.pem", pem(good))
    write(returned / "bad.pem", pem(bad))
    write(returned / "chain.pem", pem(outside.inter) + pem(outside.root))
    before = snapshot(cli, home)
    r = cli("import", returned)
    assert r.code == 2, r.both
    assert "cas-tp2" in r.err
    assert "expired" in r.err
    assert snapshot(cli, home) == before
    with open_store(home) as store:
        assert store.identities.get("cas-tp") is None
        assert store.identities.get("cas-tp2") is None
