"""Walkthrough items 3, 6, 8 and 17, end to end on a real store.

3. A key given with certificates that matches none of them is refused (exit 2, naming the key
   file, nothing stored); a batch of keys alone still keeps them pending.
6. A certificate imported alone completes its chain from the CAs the store holds, the issuers
   in stored identities' chains included.
8. A reissue (``apply``) or an imported new version moves the previous key to ``superseded``
   (never deleted, listed, not retirable); a new certificate on the same key leaves it active.
17. ``trust add`` explains a private-key file in trust-store words and refuses a leaf
    certificate issued by a CA (``--force`` adds it with a warning).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ccapki.errors import InputError
from ccapki.lifecycle.importing import Known, plan_import
from ccapki.pki.formats import Kind, Material, PrivateKey
from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.topology.loader import parse_deployment
from kit.certs import NOW, OutsideCA, pem
from kit.cli import CliRunner, ha_pair, ok, standalone, write

from .conftest import THIRD_PARTY_DEP, deployment, open_store, tp_names

TP_SUBJECT = build_name("cas-tp.example.org", "Workflow Org")
PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
NOENC = serialization.NoEncryption()


def key_pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(PEM, PKCS8, NOENC)
    return data


def keys_json(cli: CliRunner) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    return rows


def states(cli: CliRunner) -> dict[str, str]:
    return {k["fingerprint"]: k["state"] for k in keys_json(cli)}


def snapshot(cli: CliRunner, home: Path) -> tuple[Any, ...]:
    with open_store(home) as store:
        return (
            sorted((k["fingerprint"], k["state"]) for k in keys_json(cli)),
            {n: len(store.identities.history(n)) for n in ("cam", "cas-ha", "cas-tp")},
            [c.fingerprint for c in store.cas.list()],
            store.count("audit"),
        )


@pytest.fixture
def applied(deployed: Callable[[str], Path]) -> Path:
    return deployed(THIRD_PARTY_DEP)


# ---------------------------------------------------------------------------- 3. stray key


def _material(
    source: str, certs: tuple[x509.Certificate, ...] = (), keys: tuple[PrivateKey, ...] = ()
) -> Material:
    return Material(
        source,
        certificates=certs,
        certificate_kinds=(Kind.PEM_CERTIFICATE,) * len(certs),
        keys=keys,
        key_kinds=(Kind.PKCS8,) * len(keys),
    )


def test_plan_refuses_a_key_matching_no_certificate_given(outside: OutsideCA) -> None:
    dep = parse_deployment(THIRD_PARTY_DEP)
    key, stray = generate_key(KeyType.ECDSA_P256), generate_key(KeyType.ECDSA_P256)
    leaf = outside.sign(TP_SUBJECT, key.public_key(), **tp_names())
    batch = [
        _material("cert.pem", (leaf, *outside.chain), (key,)),
        _material("root.key", keys=(stray,)),
    ]
    with pytest.raises(InputError) as refused:
        plan_import(batch, dep, Known.empty(), NOW)
    assert "root.key" in str(refused.value)
    assert "key does not match any certificate given" in str(refused.value)
    # a key alone (no certificate in the batch) is kept pending, as before
    plan = plan_import([_material("root.key", keys=(stray,))], dep, Known.empty(), NOW)
    assert plan.new_keys == (stray,)


def test_import_with_a_stray_key_is_refused_and_stores_nothing(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    cert = write(
        tmp_path / "g2.pem", pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    )
    stray = generate_key(KeyType.ECDSA_P256)  # the key of no certificate given
    root_key = write(tmp_path / "ext" / "root.key", key_pem(stray))
    before = snapshot(cli, home)
    r = cli("import", cert, "--key", root_key)
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert error.startswith("error: ")
    assert "key does not match any certificate given" in error
    assert str(root_key) in error
    assert hint.startswith("hint: ")
    assert snapshot(cli, home) == before
    # the key on its own, on purpose: kept pending
    r = ok(cli("import", root_key))
    assert "kept 1 key with no certificate yet (pending)" in r.out
    assert states(cli)[public_key_fingerprint(stray)] == "pending"


# ---------------------------------------------------------------------------- 6. chain


def test_leaf_alone_completes_its_chain_from_stored_identities(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """The first import stored the chain with the identity only (no ``kept CA``); a later
    certificate alone is completed from it."""
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr1"))
    csr1 = x509.load_pem_x509_csr((tmp_path / "csr1" / "cas-tp.csr").read_bytes())
    returned = tmp_path / "returned"
    write(returned / "cas-tp.pem", pem(outside.sign_csr(csr1)))
    write(returned / "ca-bundle.pem", pem(outside.inter) + pem(outside.root))
    assert "imported cas-tp v1" in ok(cli("import", returned)).out
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr2"))
    csr2 = x509.load_pem_x509_csr((tmp_path / "csr2" / "cas-tp.csr").read_bytes())
    alone = write(tmp_path / "g3.pem", pem(outside.sign_csr(csr2)))
    r = ok(cli("import", alone))
    assert "imported cas-tp v2" in r.out
    assert "chain 2" in r.out
    with open_store(home) as store:
        ident = store.identities.get("cas-tp")
        assert ident is not None
        assert [c.subject for c in ident.chain] == [outside.inter.subject, outside.root.subject]


# ---------------------------------------------------------------------------- 8. superseded


def test_apply_reissue_supersedes_the_previous_key(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    first = deployment(cam=ha_pair("cam", "10.0.0"), cas=[standalone("cas-lab", "10.6.0.1")])
    path = write(tmp_path / "dep.toml", first)
    ok(cli("init"))
    ok(cli("apply", path))
    v1 = {k["identity"]: k["fingerprint"] for k in keys_json(cli) if k["identity"]}
    # a new IP for the standalone CAS and a new Service IP for the HA pair: both reissued
    write(
        path,
        deployment(cam=ha_pair("cam", "10.0.9"), cas=[standalone("cas-lab", "10.6.0.2")]),
    )
    r = ok(cli("apply", path))
    assert "cas-lab" in r.out
    assert "cam" in r.out
    rows = keys_json(cli)
    now = states(cli)
    for name in ("cam", "cas-lab"):
        assert now[v1[name]] == "superseded", (name, rows)
        mine = [k for k in rows if k["identity"] == name]
        assert len(mine) == 2  # never deleted
        assert sorted(k["state"] for k in mine) == ["active", "superseded"]
    text = ok(cli("keys", "list")).out
    assert f"{v1['cas-lab'][:16]}  superseded" in text
    # apply again: nothing to do, the states stay
    ok(cli("apply", path))
    assert states(cli) == now
    # retire stays for pending keys only
    r = cli("keys", "retire", v1["cas-lab"][:16])
    assert r.code == 2, r.both
    assert "superseded" in r.err
    assert states(cli) == now


def test_import_of_a_new_version_supersedes_and_same_key_stays_active(
    cli: CliRunner, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    k1, k2 = generate_key(KeyType.ECDSA_P256), generate_key(KeyType.ECDSA_P256)
    chain = pem(outside.inter) + pem(outside.root)
    for n, key in ((1, k1), (2, k2)):
        cert = outside.sign(TP_SUBJECT, key.public_key(), **tp_names())
        write(tmp_path / f"v{n}" / "cert.pem", pem(cert) + chain)
        write(tmp_path / f"v{n}" / "key.pem", key_pem(key))
        assert f"imported cas-tp v{n}" in ok(cli("import", tmp_path / f"v{n}")).out
    s1, s2 = public_key_fingerprint(k1), public_key_fingerprint(k2)
    assert (states(cli)[s1], states(cli)[s2]) == ("superseded", "active")
    # a renewed certificate on the same key: the key stays active
    again = outside.sign(TP_SUBJECT, k2.public_key(), **tp_names(), days=400)
    r = ok(cli("import", write(tmp_path / "v3.pem", pem(again) + chain)))
    assert "imported cas-tp v3" in r.out
    assert (states(cli)[s1], states(cli)[s2]) == ("superseded", "active")


# ---------------------------------------------------------------------------- 17. trust add


def test_trust_add_a_private_key_file_gets_a_trust_store_hint(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    before = snapshot(cli, home)
    keyfile = write(tmp_path / "root.key", key_pem(outside.root_key))
    r = cli("trust", "add", "cas-tp", keyfile)
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert "private key" in error
    assert str(keyfile) in error
    assert "ccapki import" not in hint
    assert "CA certificate" in hint
    assert "trust add" in hint
    assert snapshot(cli, home) == before


def test_trust_add_refuses_a_leaf_unless_forced(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    leaf_key = generate_key(KeyType.ECDSA_P256)
    leaf = write(
        tmp_path / "leaf.pem", pem(outside.sign(TP_SUBJECT, leaf_key.public_key(), **tp_names()))
    )
    before = ok(cli("trust", "list", "cas-tp", "--json")).json()
    r = cli("trust", "add", "cas-tp", leaf)
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert "not a CA certificate" in error
    assert "Outside Trust Issuing CA" in hint
    assert "--force" in hint
    assert ok(cli("trust", "list", "cas-tp", "--json")).json() == before
    r = ok(cli("trust", "add", "cas-tp", leaf, "--force"))
    assert "warning:" in r.both
    assert "not a CA certificate" in r.both
    assert "added: cas-tp.example.org on cas-tp" in r.out
    assert len(ok(cli("trust", "list", "cas-tp", "--json")).json()) == len(before) + 1
    # a CA certificate, and a self-signed appliance certificate (its own anchor), as before
    root = write(tmp_path / "root.pem", pem(outside.root))
    assert "added: Outside Trust Root on cas-tp" in ok(cli("trust", "add", "cas-tp", root)).out
    own = generate_key(KeyType.ECDSA_P256)
    name = build_name("cas-self.example.org", "Workflow Org")
    self_signed = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(own.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(own, hashes.SHA256())
    )
    r = ok(cli("trust", "add", "cas-tp", write(tmp_path / "self.pem", pem(self_signed))))
    assert "added: cas-self.example.org on cas-tp" in r.out
    assert "warning" not in r.both
