"""CA keys in a real SoftHSM2 token: create, apply the FAQ deployment, renew, chains checked
by cryptography and openssl; a missing module or token, a wrong PIN and a removed key
object each end in one error: + hint: line with nothing written; backups and doctor."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11_softhsm import LABEL, SoftHsm

from ccapki.store.session import Store
from kit.certs import NOW
from kit.cli import FAQ, Cli, db_bytes, deployment, error_with_hint, ok, standalone
from kit.tools import epoch, openssl

ROOT_URI = f"pkcs11:token={LABEL};object=campus-root"
CA_URI = f"pkcs11:token={LABEL};object=campus%20appliance%20ca"


def _faq_in_token(tmp_path: Path, root: str = ROOT_URI, ca: str = CA_URI) -> Path:
    """The FAQ deployment with both internal CA keys in the token."""
    text = FAQ.read_text(encoding="utf-8")
    text += f'\n[ca]\nroot_pkcs11_uri = "{root}"\nintermediate_pkcs11_uri = "{ca}"\n'
    path = tmp_path / "faq-hsm.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _current(home: Path) -> dict[str, Any]:
    with Store.open(home) as store:
        return dict(store.identities.current())


def _check_chain(
    tmp_path: Path,
    leaf: x509.Certificate,
    chain: tuple[x509.Certificate, ...],
    at: dt.datetime = NOW,
) -> None:
    """The chain verifies link by link with cryptography, and as a whole with openssl."""
    links = (leaf, *chain)
    for child, parent in itertools.pairwise(links):
        child.verify_directly_issued_by(parent)
    root = chain[-1]
    root.verify_directly_issued_by(root)

    def pem(*certs: x509.Certificate) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    files = {}
    for name, data in (("root", pem(root)), ("mid", pem(*chain[:-1])), ("leaf", pem(leaf))):
        files[name] = tmp_path / f"{name}-{leaf.serial_number}.pem"
        files[name].write_bytes(data)
    done = openssl(
        "verify",
        "-attime",
        epoch(at + dt.timedelta(minutes=1)),
        "-CAfile",
        str(files["root"]),
        "-untrusted",
        str(files["mid"]),
        "-purpose",
        "sslserver",
        str(files["leaf"]),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _token_objects(hsm: SoftHsm) -> dict[str, dict[str, Any]]:
    """The private keys in the token, by label, with what PKCS#11 says of them."""
    from pkcs11 import Attribute, ObjectClass

    session: Any = hsm.session()
    try:
        found = {}
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
            found[obj.label] = {
                "sensitive": obj[Attribute.SENSITIVE],
                "extractable": obj[Attribute.EXTRACTABLE],
                "never_extractable": obj[Attribute.NEVER_EXTRACTABLE],
            }
        return found
    finally:
        session.close()


def test_apply_faq_with_both_ca_keys_in_the_token(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    dep = _faq_in_token(tmp_path)
    r = ok(cli("apply", dep))
    assert "issued" in r.out
    current = _current(keyfile_store)
    assert len(current) == 6
    for ident in current.values():
        assert len(ident.chain) == 2  # intermediate, root
        _check_chain(tmp_path, ident.certificate, ident.chain)
    root = current["cam"].chain[-1]
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384
    # the keys were generated in the token: sensitive, never extractable
    objects = _token_objects(softhsm)
    assert set(objects) == {"campus-root", "campus appliance ca"}
    for attrs in objects.values():
        assert attrs == {"sensitive": True, "extractable": False, "never_extractable": True}
    # the store records where they are, holds no CA key, and never the PIN
    with Store.open(keyfile_store) as store:
        places = store.token_keys.list()
        assert {p.uri.split(";id=")[0] for p in places} == {ROOT_URI, CA_URI}
        ca_spkis = {c.spki for c in store.cas.list()}
        assert ca_spkis == {p.fingerprint for p in places}
        assert not any(store.keys.has(s) for s in ca_spkis)
    assert softhsm.pin.encode() not in db_bytes(keyfile_store)
    listed = ok(cli("ca", "list"))
    assert listed.out.count("key in the PKCS#11 token pkcs11:token=ccapki-test") == 2
    # idempotent: nothing due, no PIN asked
    again = ok(cli("apply", dep, env={"CCAPKI_PKCS11_PIN": None}))
    assert "nothing to do" in again.out


def test_ca_create_then_renew_identity_and_ca_successor(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    r = ok(
        cli("ca", "create", FAQ, "--root-pkcs11-uri", ROOT_URI, "--intermediate-pkcs11-uri", CA_URI)
    )
    assert r.out.count("key in the PKCS#11 token") == 2
    ok(cli("apply", FAQ))  # the file has no [ca]: the CAs made above sign
    before = _current(keyfile_store)["cas-annex"]
    renewed = ok(cli("renew", "cas-annex", "--commit"))
    assert "renewed cas-annex v2" in renewed.out
    after = _current(keyfile_store)["cas-annex"]
    assert after.version == 2
    assert after.chain == before.chain
    _check_chain(tmp_path, after.certificate, after.chain)
    # near the intermediate's end: renew makes its successor in the same token
    late = NOW + dt.timedelta(days=3650 - 30)
    ok(cli("renew", "--due", "--commit", now=late))
    with Store.open(keyfile_store) as store:
        assert len(store.token_keys.list()) == 3
    newest = _current(keyfile_store)["cas-clinic"]
    assert newest.chain[0] != before.chain[0]
    assert "G2" in newest.chain[0].subject.rfc4514_string()
    _check_chain(tmp_path, newest.certificate, newest.chain, at=late)
    assert "Example University Clean Access Appliance CA G2" in _token_objects(softhsm)


def test_an_rsa_key_already_in_the_token_is_used(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    from pkcs11 import Attribute, KeyType

    session: Any = softhsm.session()
    try:
        session.generate_keypair(
            KeyType.RSA,
            2048,
            store=True,
            label="made-elsewhere",
            id=b"\x42",
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
    finally:
        session.close()
    dep = _faq_in_token(tmp_path, ca=f"pkcs11:token={LABEL};id=%42")
    ok(cli("apply", dep))
    cam = _current(keyfile_store)["cam"]
    assert cam.certificate.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    _check_chain(tmp_path, cam.certificate, cam.chain)
    assert set(_token_objects(softhsm)) == {"campus-root", "made-elsewhere"}


def _nothing_written(home: Path) -> None:
    with Store.open(home) as store:
        assert store.cas.list() == []
        assert store.token_keys.list() == []
        assert store.identities.current() == {}


def test_a_missing_module_is_one_clean_error(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    r = error_with_hint(
        cli("apply", _faq_in_token(tmp_path), env={"CCAPKI_PKCS11_MODULE": "/nope/libp11.so"})
    )
    assert "the PKCS#11 module /nope/libp11.so does not exist" in r.err
    assert "CCAPKI_PKCS11_MODULE" in r.err
    _nothing_written(keyfile_store)
    not_a_module = tmp_path / "not-a-module.so"
    not_a_module.write_bytes(b"\x7fELF but not really")
    r = error_with_hint(
        cli("apply", _faq_in_token(tmp_path), env={"CCAPKI_PKCS11_MODULE": str(not_a_module)})
    )
    assert "does not load" in r.err


def test_a_missing_token_is_one_clean_error(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path, root="pkcs11:token=gone;object=r")))
    assert "no PKCS#11 token matches pkcs11:token=gone;object=r" in r.err
    assert "softhsm2-util --show-slots" in r.err
    _nothing_written(keyfile_store)


def test_a_wrong_or_missing_pin_is_one_clean_error(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    dep = _faq_in_token(tmp_path)
    r = error_with_hint(cli("apply", dep, env={"CCAPKI_PKCS11_PIN": "not-the-pin"}))
    assert "wrong user PIN for the PKCS#11 token ccapki-test" in r.err
    assert "not-the-pin" not in r.both
    r = error_with_hint(cli("apply", dep, env={"CCAPKI_PKCS11_PIN": None}))
    assert "needs its user PIN and none was given" in r.err
    _nothing_written(keyfile_store)
    assert _token_objects(softhsm) == {}


def test_a_removed_key_object_is_one_clean_error(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    from pkcs11 import Attribute

    dep = _faq_in_token(tmp_path)
    ok(cli("apply", dep))
    before = {n: i.fingerprint for n, i in _current(keyfile_store).items()}
    session: Any = softhsm.session()
    try:
        for obj in list(session.get_objects({Attribute.LABEL: "campus appliance ca"})):
            obj.destroy()
    finally:
        session.close()
    from ccapki.hsm import token

    token.close_all()
    r = error_with_hint(cli("renew", "cam", "--commit"))
    assert "the CA key campus appliance ca in token ccapki-test is not in the token" in r.err
    assert "token's own backup" in r.err
    assert {n: i.fingerprint for n, i in _current(keyfile_store).items()} == before
    doctor = cli("doctor")
    assert doctor.code == 1
    assert "its key in a PKCS#11 token cannot sign" in doctor.out + doctor.err


def test_backup_records_the_token_and_restores_where_it_is(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    env = {"CCAPKI_BACKUP_PASSPHRASE": "backup passphrase 1"}
    archive = tmp_path / "store.ccb"
    made = ok(cli("backup", "create", "--out", archive, env=env))
    assert "2 CA keys are in PKCS#11 tokens" in made.out
    assert "not the keys" in made.out
    assert softhsm.pin.encode() not in archive.read_bytes()
    verified = ok(cli("backup", "verify", archive, env=env))
    assert "2 CA keys are in PKCS#11 tokens" in verified.out
    other = tmp_path / "other"
    ok(cli("init", "--key-file", home_dir=other))
    restored = ok(cli("backup", "restore", archive, home_dir=other, env=env))
    assert f"({ROOT_URI}" in restored.out or ROOT_URI in restored.out
    assert "the backup records where they are, not the keys" in restored.out
    with Store.open(other) as store:
        assert len(store.token_keys.list()) == 2
    # the restored store signs with the same token
    ok(cli("renew", "cam", "--commit", home_dir=other))
    cam = _current(other)["cam"]
    assert cam.version == 2
    _check_chain(tmp_path, cam.certificate, cam.chain)


def test_doctor_checks_the_token(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _faq_in_token(tmp_path)))
    healthy = ok(cli("doctor"))
    assert "2 CA keys in PKCS#11 tokens" in healthy.out + healthy.err
    assert "no signing key" not in healthy.out + healthy.err
    no_pin = ok(cli("doctor", env={"CCAPKI_PKCS11_PIN": None}))
    assert "CCAPKI_PKCS11_PIN is not set" in no_pin.out + no_pin.err
    from ccapki.hsm import token

    token.close_all()
    wrong = cli("doctor", env={"CCAPKI_PKCS11_PIN": "0000"})
    assert wrong.code == 1
    assert "wrong user PIN" in wrong.out + wrong.err
    token.close_all()
    gone = cli("doctor", env={"CCAPKI_PKCS11_MODULE": "/nope/libp11.so"})
    assert gone.code == 1
    assert "does not exist" in gone.out + gone.err


def test_ca_create_refuses_a_uri_for_a_ca_it_holds(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path
) -> None:
    ok(cli("apply", FAQ))  # keys in the store
    r = error_with_hint(cli("ca", "create", FAQ, "--root-pkcs11-uri", ROOT_URI))
    assert "has its internal root CA already" in r.err
    assert _token_objects(softhsm) == {}
    with Store.open(keyfile_store) as store:
        assert store.token_keys.list() == []
    same = ok(cli("ca", "create", FAQ))
    assert "nothing created" in same.out
    listed = ok(cli("ca", "list"))
    assert listed.out.count("key sealed in the store") == 2


def test_many_identities_sign_in_this_process(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Past PARALLEL_MIN identities apply issues on forked workers; with the CA key in a
    token it signs in this process (a PKCS#11 session does not survive a fork)."""
    from ccapki.lifecycle.apply import PARALLEL_MIN

    n = PARALLEL_MIN + 4
    cas = [standalone(f"cas{i}", f"10.{1 + i // 250}.{i % 250}.1") for i in range(n)]
    text = deployment(name="many", cas=cas)
    text += f'\n[ca]\nroot_pkcs11_uri = "{ROOT_URI}"\nintermediate_pkcs11_uri = "{CA_URI}"\n'
    path = tmp_path / "many.toml"
    path.write_text(text, encoding="utf-8")
    ok(cli("apply", path))
    current = _current(keyfile_store)
    assert len(current) == n + 1
    some = current[f"cas{n - 1}"]
    _check_chain(tmp_path, some.certificate, some.chain)


def test_one_key_for_root_and_intermediate_is_refused(
    softhsm: SoftHsm, cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    r = error_with_hint(cli("apply", _faq_in_token(tmp_path, ca=ROOT_URI)))
    assert "the intermediate CA's key in the PKCS#11 token is the root CA's key" in r.err
    _nothing_written(keyfile_store)
