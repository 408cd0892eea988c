"""``ccapki backup``: create, verify, restore and the per-appliance recovery kit, run in
process on real stores; every refusal is one ``error:`` and a ``hint:``, exit 2, nothing
written."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.backup import MAGIC
from ccapki.lifecycle.trustops import load_inventory, required_trust
from ccapki.pki.certs import fingerprint
from ccapki.store import Store
from ccapki.store.session import MIN_PASSPHRASE
from ccapki.topology.loader import load_deployment
from ccapki.trust import CAS_TRUST_PATH
from kit.cli import FAQ, CliRunner, error_with_hint, ok, write

PASS = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}
WRONG = {"CCAPKI_BACKUP_PASSPHRASE": "not the passphrase"}


@pytest.fixture
def applied(cli: CliRunner, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


@pytest.fixture
def archive(cli: CliRunner, applied: Path, tmp_path: Path) -> Path:
    out = tmp_path / "store.backup"
    r = ok(cli("backup", "create", "--out", out, env=PASS))
    assert "6 identities" in r.out
    return out


def counts(home: Path) -> dict[str, int]:
    with Store.open(home) as s:
        return {
            t: s.count(t) for t in ("certificates", "keys", "cas", "csrs", "trust_entries", "audit")
        }


def test_create_verify_restore(
    cli: CliRunner, archive: Path, applied: Path, tmp_path: Path
) -> None:
    assert archive.stat().st_mode & 0o777 == 0o600
    assert archive.read_bytes().startswith(MAGIC)
    with Store.open(applied) as s:
        entry = s.audit.log(1)[0]
    assert (entry.action, entry.subject) == ("backup-create", str(archive.resolve()))

    r = ok(cli("backup", "verify", archive, env=PASS))
    assert "intact" in r.out
    assert "cas-dorm: 1 version," in r.out
    data = ok(cli("backup", "verify", archive, "--json", env=PASS)).json()
    assert data["ok"] is True
    assert len(data["identities"]) == 6

    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))
    r = ok(cli("backup", "restore", archive, home_dir=fresh, env=PASS))
    assert "6 identities with new versions" in r.out
    with Store.open(applied) as a, Store.open(fresh) as b:
        assert {n: v.fingerprint for n, v in a.identities.current().items()} == {
            n: v.fingerprint for n, v in b.identities.current().items()
        }
        assert b.audit.log(1)[0].action == "backup-restore"
    # again: everything is held already
    r = ok(cli("backup", "restore", archive, home_dir=fresh, env=PASS))
    assert "0 identities with new versions" in r.out
    assert "kept" in r.out


def test_create_json(cli: CliRunner, applied: Path, tmp_path: Path) -> None:
    r = ok(cli("backup", "create", "--out", tmp_path / "b", "--json", env=PASS))
    data = r.json()
    assert data["identities"] == 6
    assert data["records"]["keys"] == 8
    assert data["bytes"] == (tmp_path / "b").stat().st_size


def test_create_refusals(cli: CliRunner, applied: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.backup"
    short = {"CCAPKI_BACKUP_PASSPHRASE": "x" * (MIN_PASSPHRASE - 1)}
    assert "too short" in error_with_hint(cli("backup", "create", "--out", out, env=short)).err
    r = error_with_hint(cli("backup", "create", "--out", out))
    assert "CCAPKI_BACKUP_PASSPHRASE" in r.err
    error_with_hint(cli("backup", "create", "--out", "-", env=PASS))
    error_with_hint(cli("backup", "create", "--out", tmp_path / "no" / "such" / "b", env=PASS))
    assert not out.exists()
    assert list(tmp_path.glob(".b.backup*")) == []  # no temporary file left behind


def _damaged(archive: Path, tmp_path: Path) -> dict[str, bytes]:
    data = archive.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    version = bytearray(data)
    version[len(MAGIC) : len(MAGIC) + 2] = struct.pack(">H", 9)
    return {
        "truncated": data[: len(data) - 100],
        "does not authenticate": bytes(flipped),
        "format version 9": bytes(version),
        "not a ccapki backup": b"-----BEGIN CERTIFICATE-----\n",
    }


def test_refused_archives_change_nothing(
    cli: CliRunner, archive: Path, applied: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    ok(cli("init", "--key-file", home_dir=target))
    ok(cli("apply", write(tmp_path / "one.toml", FAQ.read_text()), home_dir=target))
    before = counts(target)
    r = error_with_hint(cli("backup", "restore", archive, home_dir=target, env=WRONG))
    assert "wrong backup passphrase" in r.err
    error_with_hint(cli("backup", "verify", archive, env=WRONG))
    for what, data in _damaged(archive, tmp_path).items():
        bad = write(tmp_path / "bad.backup", data)
        # another store's backup (meant: --force), so the damage is what refuses it
        r = error_with_hint(cli("backup", "restore", bad, "--force", home_dir=target, env=PASS))
        assert what in r.err, r.err
        assert what in error_with_hint(cli("backup", "verify", bad, env=PASS)).err
    r = error_with_hint(cli("backup", "verify", tmp_path / "missing.backup", env=PASS))
    assert "no such file" in r.err
    assert counts(target) == before


def test_restore_needs_a_store(cli: CliRunner, archive: Path, tmp_path: Path) -> None:
    r = error_with_hint(cli("backup", "restore", archive, home_dir=tmp_path / "none", env=PASS))
    # the store this command was given, named (run as printed: never the default store;
    # a database URL names its own)
    from kit.pgmode import BACKEND

    home = "" if BACKEND == "postgresql" else f"--home {tmp_path / 'none'} "
    assert f"`ccapki {home}init`" in r.err


def test_newer_data_refused_unless_forced(
    cli: CliRunner, archive: Path, applied: Path, tmp_path: Path
) -> None:
    moved = write(tmp_path / "moved.toml", FAQ.read_text().replace("10.31.0.10", "10.31.0.99"))
    ok(cli("apply", moved))  # cas-annex v2, newer than the backup
    before = counts(applied)
    r = error_with_hint(cli("backup", "restore", archive, env=PASS))
    assert "newer data" in r.err
    assert "--force" in r.err
    assert counts(applied) == before
    r = ok(cli("backup", "restore", archive, "--force", env=PASS))
    assert "forced: faq-campus/cas-annex" in r.out
    with Store.open(applied) as s:
        hist = s.identities.history("cas-annex")
    assert [v.version for v in hist] == [1, 2, 3]
    assert hist[2].fingerprint == hist[0].fingerprint  # the backup's certificate is current


def test_restore_one_identity(cli: CliRunner, archive: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))
    r = ok(cli("backup", "restore", archive, "--identity", "cas-dorm", home_dir=fresh, env=PASS))
    assert "restored identity cas-dorm" in r.out
    assert "1 identity with new versions: 1 certificate, 3 keys re-sealed, 2 CAs, 0 CSRs" in r.out
    with Store.open(fresh) as s:
        assert list(s.identities.current()) == ["cas-dorm"]
    r = error_with_hint(
        cli("backup", "restore", archive, "--identity", "nope", home_dir=fresh, env=PASS)
    )
    assert "backup verify" in r.err


def test_one_identity_restored_into_a_new_store_is_exported_and_kitted(
    cli: CliRunner, archive: Path, applied: Path, tmp_path: Path
) -> None:
    """The identity comes with its deployment's file when the store holds none of that
    deployment: `export` and `backup appliance` work on it at once (a walkthrough found
    both refused, "the store holds no deployment yet", while `ccapki deployments` listed
    it). A store that holds a file of that deployment keeps its own."""
    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))
    r = ok(cli("backup", "restore", archive, "--identity", "cas-dorm", home_dir=fresh, env=PASS))
    assert "1 deployment file" in r.out
    ok(cli("export", "cas-dorm", "--out", tmp_path / "dorm.pem", home_dir=fresh))
    assert (tmp_path / "dorm.pem").stat().st_mode & 0o777 == 0o600
    kit = tmp_path / "kit"
    pw = {"CCAPKI_EXPORT_PASSWORD": "kit password"}
    ok(cli("backup", "appliance", "cas-dorm-b", "--out", kit, home_dir=fresh, env=pw))
    assert (kit / "cas-dorm.p12").exists()
    with Store.open(fresh) as s, Store.open(applied) as source:
        assert s.deployments.names() == ["faq-campus"]
        restored, original = s.deployments.latest(), source.deployments.latest()
        assert restored is not None
        assert original is not None
        assert restored.text == original.text
    # a store with a file of its own for that deployment keeps it
    other = tmp_path / "other"
    ok(cli("init", "--key-file", home_dir=other))
    mine = FAQ.read_text().replace("10.31.0.10", "10.31.0.99")
    ok(cli("apply", write(tmp_path / "mine.toml", mine), home_dir=other))
    args = ("backup", "restore", archive, "--identity", "cas-dorm", "--force")
    r = ok(cli(*args, home_dir=other, env=PASS))  # (another store's backup: --force)
    assert "0 deployment files" in r.out
    with Store.open(other) as s:
        kept = s.deployments.latest()
        assert kept is not None
        assert kept.text == mine


def test_restore_one_identity_held_by_two_deployments(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    """A name two deployments hold is not restored from both at once: the command lists them
    and restores nothing; --deployment picks one, even into a store new to that deployment
    (a walkthrough found both restored silently)."""
    hospital = write(tmp_path / "hospital.toml", FAQ.read_text().replace("faq-campus", "hospital"))
    ok(cli("apply", hospital, "--new-deployment"))  # the same appliances, on purpose
    out = tmp_path / "two.backup"
    ok(cli("backup", "create", "--out", out, env=PASS))
    fresh = tmp_path / "fresh"
    ok(cli("init", "--key-file", home_dir=fresh))
    r = error_with_hint(
        cli("backup", "restore", out, "--identity", "cas-dorm", home_dir=fresh, env=PASS)
    )
    assert "in 2 deployments (faq-campus, hospital); nothing was restored" in r.err
    assert "--deployment faq-campus backup restore" in r.err
    assert counts(fresh)["certificates"] == 0
    args = ("--deployment", "hospital", "backup", "restore", out, "--identity", "cas-dorm")
    ok(cli(*args, home_dir=fresh, env=PASS))
    with Store.open(fresh, deployment="hospital") as s:
        assert list(s.identities.current()) == ["cas-dorm"]
        assert s.deployments.names() == ["hospital"]


def test_appliance_recovery_kit(cli: CliRunner, applied: Path, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    r = ok(
        cli(
            "backup",
            "appliance",
            "cas-dorm-b",
            "--out",
            kit,
            env={"CCAPKI_EXPORT_PASSWORD": "kit password"},
        )
    )
    assert "cas-dorm v1" in r.out
    names = sorted(p.name for p in kit.iterdir())
    assert names == ["README.txt", "cas-dorm-upload.pem", "cas-dorm.p12", "trusted-ca-1.pem"]
    for name in ("cas-dorm-upload.pem", "cas-dorm.p12"):
        assert (kit / name).stat().st_mode & 0o777 == 0o600, name

    with Store.open(applied) as s:
        ident = s.identities.get("cas-dorm")
        assert ident is not None
        need = required_trust(load_inventory(s, load_deployment(str(FAQ))))["cas-dorm-b"]
        actions = [e.action for e in s.audit.log(3)]
    assert actions == ["backup-appliance", "key-export", "key-export"]
    # the upload bundle: certificate, chain, key that is the certificate's
    bundle = (kit / "cas-dorm-upload.pem").read_bytes()
    certs = x509.load_pem_x509_certificates(bundle)
    assert certs[0] == ident.certificate
    assert certs[1:] == [c for c in ident.chain if c.issuer != c.subject]
    key = serialization.load_pem_private_key(bundle, password=None)
    assert key.public_key() == ident.certificate.public_key()
    # the PKCS#12: encrypted, the same certificate and key
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((kit / "cas-dorm.p12").read_bytes(), b"wrong")
    p12 = pkcs12.load_key_and_certificates((kit / "cas-dorm.p12").read_bytes(), b"kit password")
    assert p12[1] == ident.certificate
    assert p12[0] is not None
    assert p12[0].public_key() == ident.certificate.public_key()
    # the roots its trust store must hold
    root = x509.load_pem_x509_certificate((kit / "trusted-ca-1.pem").read_bytes())
    assert [fingerprint(c) for c in need] == [fingerprint(root)]
    # README: the GUI steps in order, naming the files
    text = (kit / "README.txt").read_text()
    assert "cas-dorm.p12" in text
    # the trusted CAs first, then the certificate (as apply and renew order them; a
    # walkthrough found the kit alone saying the certificate first)
    order = [
        "Trusted Certificate Authorities",
        "Import each trusted CA: trusted-ca-1.pem",
        "x509 Certificate",
        "upload cas-dorm-upload.pem",
        "on the secondary, cas-dorm-b",
        "Restart",
        "ccapki check-ha cas-dorm",
    ]
    at = [text.find(s) for s in order]
    assert -1 not in at, list(zip(order, at, strict=True))
    assert at == sorted(at), list(zip(order, at, strict=True))
    assert "PRIVATE KEY" not in text
    # the trust store's page in the words every trust command prints (one table: the kit
    # said "Administration > SSL > ..." while trust plan said the FAQ's "SSL > ...")
    assert f"{CAS_TRUST_PATH} (the CAS direct access console" in text
    assert "Administration >" not in text
    assert "HOST" not in text  # each page names the appliance's own console


def test_appliance_refusals(cli: CliRunner, applied: Path, tmp_path: Path) -> None:
    pw = {"CCAPKI_EXPORT_PASSWORD": "kit password"}
    r = error_with_hint(cli("backup", "appliance", "cas-nowhere", "--out", tmp_path / "k", env=pw))
    assert "cas-nowhere" in r.err
    r = error_with_hint(cli("backup", "appliance", "cas-dorm", "--out", tmp_path / "k"))
    assert "CCAPKI_EXPORT_PASSWORD" in r.err
    assert not (tmp_path / "k").exists()


def test_help_lists_backup(cli: CliRunner) -> None:
    r = ok(cli("backup", "--help"))
    for sub in ("create", "verify", "restore", "appliance"):
        assert sub in r.out
