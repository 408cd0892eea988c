"""``ccapki doctor`` on real stores, damaged for real (SQL on the database file, bytes
written into it, chmod, a damaged data.key), on SQLite and on PostgreSQL.

Each damage must give its finding (code, subject, fix) and exit 1, or exit 2 with
``error:``/``hint:`` when there is no store to examine; never a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import create_engine, text

from ccapki.lifecycle.doctor import (
    Chains,
    Problem,
    Severity,
    backup_problems,
    schema_problems,
)
from ccapki.pki.issue import (
    IdentityRequest,
    Issuer,
    issue_identity,
    make_intermediate_ca,
    make_root_ca,
)
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import NOW, sha256
from kit.cli import (
    FAQ,
    Cli,
    Result,
    db_bytes,
    deployment,
    error_with_hint,
    ha_pair,
    standalone,
    write,
)
from kit.pgmode import BACKEND, store_sql
from kit.tools import clean_pg_url

PASS = "correct horse battery staple"


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "ccapki.db")


def _sql(home: Path, statement: str, **params: object) -> None:
    """``statement`` (``:named`` parameters) run on the store's database, either backend."""
    with store_sql(home) as conn:
        conn.execute(text(statement), params)


def _one(home: Path, query: str) -> Any:
    """The one value ``query`` selects from the store's database, either backend."""
    with store_sql(home) as conn:
        return conn.execute(text(query)).scalar_one()


def _problems(r: Result) -> list[dict[str, Any]]:
    data = r.json()
    assert isinstance(data["problems"], list)
    return data["problems"]


def _codes(r: Result) -> list[str]:
    return [p["code"] for p in _problems(r)]


def _only(r: Result, code: str, also: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The one problem of ``code``; every other problem is the no-backup warning (or one
    of ``also``)."""
    found = [p for p in _problems(r) if p["code"] == code]
    assert len(found) == 1, r.out
    others = [p["code"] for p in _problems(r) if p["code"] != code]
    assert set(others) <= {"backup-none", *also}, r.out
    return found[0]


@pytest.fixture
def faq_store(cli: Cli, keyfile_store: Path) -> Path:
    """The FAQ deployment applied to a key-file store."""
    r = cli("apply", FAQ)
    assert r.code == 0, r.both
    return keyfile_store


def _doctor(cli: Cli, *args: str, code: int = 1, **kw: Any) -> Result:
    r = cli("doctor", "--json", *args, **kw)
    assert r.code == code, r.both
    assert "Traceback" not in r.both
    return r


# ---------------------------------------------------------------------------- healthy


def test_healthy_faq_store_exits_0_and_says_what_it_checked(cli: Cli, faq_store: Path) -> None:
    r = cli("doctor")
    assert r.code == 0, r.both
    assert "0 errors, 1 warning" in r.out
    assert "6 identities, 6 certificate versions" in r.out
    assert "8 sealed keys" in r.out  # 6 identities + the root and the signing CA
    assert "10 trust entries" in r.out
    data = _doctor(cli, code=0).json()
    assert data["ok"] is True
    assert data["checked"]["identities"] == 6
    # the one warning: no backup yet, with the command that makes one
    (warning,) = data["problems"]
    assert warning["code"] == "backup-none"
    assert warning["severity"] == "warning"
    assert "ccapki backup create --out FILE" in warning["fix"]
    # --strict: warnings fail too
    assert cli("doctor", "--strict").code == 1


def _outside_ca() -> tuple[Issuer, x509.Certificate]:
    """A third-party CA: (its issuing CA, its root)."""
    start = NOW - dt.timedelta(days=30)
    root_key = generate_key(KeyType.ECDSA_P256)
    root = make_root_ca("Outside Root", root_key, now=start, days=3650, organization="Outside")
    key = generate_key(KeyType.ECDSA_P256)
    inter = make_intermediate_ca(
        Issuer(root, root_key), "Outside CA", key.public_key(), now=start, days=3650
    )
    return Issuer(inter, key), root


def _sign_csr(csr: x509.CertificateSigningRequest, ca: Issuer) -> x509.Certificate:
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(ca.authority_key_identifier, critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def test_healthy_store_of_every_source_exits_0(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """No false alarm: true self-signed, Perfigo-era, internal and third-party identities
    (the CSR keys become active), each a deployment of one store."""
    sources = {
        "selfsigned": ("4.8.0", "self-signed"),
        "oldperfigo": ("4.6.1", "perfigo"),
        "campus": ("4.8.0", "internal"),
        "outside": ("4.8.0", "third-party"),
    }
    for name, (release, source) in sources.items():
        cas = [standalone("cas-1", "10.0.0.2"), ha_pair("cas-ha", "10.5.0")]
        text = deployment(name=name, release=release, source=source, cas=cas)
        assert cli("apply", write(tmp_path / f"{name}.toml", text), "--new-deployment").code == 0
    csrs = tmp_path / "csrs"
    assert cli("--deployment", "outside", "csr", "--all", "--out", csrs).code == 0
    ca, root = _outside_ca()
    returned = tmp_path / "returned"
    returned.mkdir()
    for path in csrs.glob("*.csr"):
        leaf = _sign_csr(x509.load_pem_x509_csr(path.read_bytes()), ca)
        pems = (c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca.certificate, root))
        (returned / f"{path.stem}.pem").write_bytes(b"".join(pems))
    r = cli("--deployment", "outside", "import", returned)
    assert r.code == 0, r.both
    # until the third-party CA is in the CAM's trust store, doctor says so (the links fail)
    gap = _only(_doctor(cli, code=0), "trust-incomplete")
    assert gap["deployment"] == "outside"
    assert cli("--deployment", "outside", "trust", "apply").code == 0
    data = _doctor(cli, code=0).json()
    assert [p["code"] for p in data["problems"]] == ["backup-none"], data
    assert data["checked"]["identities"] == 12
    assert data["deployments"] == sorted(sources)


def test_progress_bar_on_a_terminal_only(faq_store: Path) -> None:
    """The bar is drawn on standard error when it is a terminal; the report is unchanged."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccapki", "--home", str(faq_store), "doctor"],
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)  # the child holds the terminal now: read it as it writes, to its end
    drawn = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert b"checking certificates" in drawn
    assert b"checking keys" in drawn
    assert b"6 identities" in out
    assert b"checking" not in out


def test_doctor_never_writes(cli: Cli, faq_store: Path) -> None:
    if BACKEND == "postgresql":  # every row, before and after
        before = db_bytes(faq_store)
        _doctor(cli, code=0)
        assert db_bytes(faq_store) == before
        return
    before = (faq_store / "ccapki.db").read_bytes()
    _doctor(cli, code=0)
    con = _db(faq_store)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    assert (faq_store / "ccapki.db").read_bytes() == before


# ---------------------------------------------------------------------------- keys


def test_flipped_sealed_bytes_is_a_damaged_key(cli: Cli, faq_store: Path) -> None:
    sealed = bytes(_one(faq_store, "SELECT sealed FROM keys WHERE identity = 'cas-dorm'"))
    flipped = bytes([sealed[0] ^ 0xFF]) + sealed[1:]  # its first byte, every bit flipped
    _sql(faq_store, "UPDATE keys SET sealed = :s WHERE identity = 'cas-dorm'", s=flipped)
    r = _doctor(cli)
    p = _only(r, "key-damaged")
    assert p["severity"] == "error"
    assert "(cas-dorm, active)" in p["subject"]
    assert "ccapki backup restore FILE --identity cas-dorm" in p["fix"]
    text_r = cli("doctor")
    assert text_r.code == 1
    assert "fix: restore it from a backup" in text_r.out


def test_key_row_deleted_under_a_certificate(cli: Cli, faq_store: Path) -> None:
    _sql(faq_store, "DELETE FROM keys WHERE identity = 'cas-guest'")
    p = _only(_doctor(cli), "key-missing")
    assert p["subject"] == "cas-guest v1"
    assert "no private key" in p["message"]
    assert "--identity cas-guest" in p["fix"]


def test_ca_key_deleted(cli: Cli, faq_store: Path) -> None:
    _sql(faq_store, "DELETE FROM keys WHERE state = 'ca' AND fingerprint = "
         "(SELECT spki FROM cas WHERE kind = 'internal-ca')")  # fmt: skip
    p = _only(_doctor(cli), "ca-key-missing")
    assert p["subject"].startswith("CA Example University Clean Access Appliance CA")
    assert "backup restore" in p["fix"]


def test_key_swapped_onto_another_row_does_not_open(cli: Cli, faq_store: Path) -> None:
    # the sealed bytes of cam's key copied onto cas-annex's row: AES-GCM's AAD (the public
    # key fingerprint) refuses them there
    _sql(
        faq_store,
        "UPDATE keys SET nonce = (SELECT nonce FROM keys WHERE identity = 'cam'), "
        "sealed = (SELECT sealed FROM keys WHERE identity = 'cam') WHERE identity = 'cas-annex'",
    )
    p = _only(_doctor(cli), "key-damaged")
    assert "(cas-annex, active)" in p["subject"]


def test_data_key_damaged(cli: Cli, faq_store: Path) -> None:
    (faq_store / "data.key").write_text("not hex at all\n")
    r = _doctor(cli)
    assert "data-key" in _codes(r)
    p = next(p for p in _problems(r) if p["code"] == "data-key")
    assert "damaged" in p["message"]
    assert "a `ccapki backup` holds none" in p["fix"]
    assert "`ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE`" in p["fix"]
    assert any("sealed keys" in s for s in r.json()["skipped"])


def test_the_restore_fix_works_as_written(cli: Cli, faq_store: Path, tmp_path: Path) -> None:
    """The fix doctor prints for a lost data key or a damaged database, followed to the
    letter (NEWDIR and FILE filled in), gives a working store: a backup restores only into a
    store that exists, so the fix inits one first (a walkthrough found it did not)."""
    env = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}
    backup = tmp_path / "nightly.backup"
    assert cli("backup", "create", "--out", backup, env=env).code == 0
    (faq_store / "data.key").write_text("not hex at all\n")
    fix = next(p for p in _problems(_doctor(cli)) if p["code"] == "data-key")["fix"]
    command = fix.split("`")[-2]  # the last command the fix quotes
    new = tmp_path / "new"
    for step in command.split(" && "):
        args = step.split()[1:]  # without "ccapki"
        args = [str(new) if a == "NEWDIR" else str(backup) if a == "FILE" else a for a in args]
        home = args.index("--home")
        del args[home : home + 2]
        r = cli(*args, home_dir=new, env=env)
        assert r.code == 0, r.both
    r = cli("inspect", "cas-dorm", home_dir=new)
    assert r.code == 0, r.both


def test_data_key_of_another_store(cli: Cli, faq_store: Path) -> None:
    (faq_store / "data.key").write_text(os.urandom(32).hex() + "\n")
    p = _only(_doctor(cli), "data-key-wrong")
    assert "none of the 8 sealed keys opens" in p["message"]


def test_wrong_passphrase_is_bad_input(
    cli: Cli, home: Path, fast_scrypt: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCAPKI_PASSPHRASE", PASS)
    assert cli("init").code == 0
    assert cli("apply", FAQ).code == 0
    assert cli("doctor").code == 0
    error_with_hint(cli("doctor", env={"CCAPKI_PASSPHRASE": "not the passphrase"}))


# ---------------------------------------------------------------------------- certificates


def test_chain_without_its_intermediate(cli: Cli, faq_store: Path) -> None:
    chain = _one(faq_store, "SELECT chain_pem FROM certificates WHERE identity = 'cam'")
    end = "-----END CERTIFICATE-----\n"
    intermediate, root = (c + end for c in chain.split(end)[:2])
    _sql(faq_store, "UPDATE certificates SET chain_pem = :c WHERE identity = 'cam'", c=root)
    assert (
        "Appliance CA"
        in x509.load_pem_x509_certificate(intermediate.encode()).subject.rfc4514_string()
    )
    p = _only(_doctor(cli), "chain-incomplete")
    assert p["subject"] == "cam v1"
    assert "Appliance CA" in p["message"]  # the missing issuer, named
    assert "--identity cam" in p["fix"]


def test_chain_with_the_wrong_root(cli: Cli, faq_store: Path) -> None:
    # a root of the same name, but another key: the intermediate's signature fails
    key = generate_key(KeyType.ECDSA_P384)
    lookalike = make_root_ca(
        "Example University Clean Access Root CA",
        key,
        now=NOW - dt.timedelta(days=1),
        days=3650,
        organization="Example University",
    )
    other = lookalike.public_bytes(serialization.Encoding.PEM).decode()
    chain = _one(faq_store, "SELECT chain_pem FROM certificates WHERE identity = 'cas-dorm'")
    end = "-----END CERTIFICATE-----\n"
    intermediate = chain.split(end)[0] + end
    _sql(
        faq_store,
        "UPDATE certificates SET chain_pem = :c WHERE identity = 'cas-dorm'",
        c=intermediate + other,
    )
    # the chain now ends at a root no trust store holds: its links fail too (a warning)
    p = _only(_doctor(cli), "chain-incomplete", also=frozenset({"trust-incomplete"}))
    assert p["subject"] == "cas-dorm v1"
    assert "signature" in p["message"]


def test_certificate_row_not_its_certificate(cli: Cli, faq_store: Path) -> None:
    _sql(
        faq_store,
        "UPDATE certificates SET pem = (SELECT pem FROM certificates WHERE identity = 'cam') "
        "WHERE identity = 'cas-clinic'",
    )
    p = _only(_doctor(cli), "certificate-mismatch")
    assert p["subject"] == "cas-clinic v1"


def test_expired_and_not_yet_valid_current_certificates(cli: Cli, faq_store: Path) -> None:
    later = _doctor(cli, now=NOW + dt.timedelta(days=3000))
    assert _codes(later).count("expired") == 6
    p = next(p for p in _problems(later) if p["code"] == "expired")
    assert "ccapki apply FILE" in p["fix"]
    earlier = _doctor(cli, now=NOW - dt.timedelta(days=2))
    assert _codes(earlier).count("not-yet-valid") == 6


def test_stale_active_key_of_an_older_version(cli: Cli, faq_store: Path) -> None:
    # a renewal makes v2 and supersedes v1's key; marking it active again is what two
    # applies at once left behind (two active keys for one identity)
    r = cli("apply", FAQ, now=NOW + dt.timedelta(days=3000))
    assert r.code == 0, r.both
    v1_key = _one(
        faq_store, "SELECT spki FROM certificates WHERE identity = 'cas-dorm' AND version = 1"
    )
    assert _doctor(cli, code=0, now=NOW + dt.timedelta(days=3000)).json()["errors"] == 0
    _sql(faq_store, "UPDATE keys SET state = 'active' WHERE fingerprint = :f", f=v1_key)
    r = _doctor(cli, code=0, now=NOW + dt.timedelta(days=3000))
    p = _only(r, "stale-active-key")
    assert p["severity"] == "warning"
    assert p["subject"] == f"key {v1_key[:16]}"
    assert "cas-dorm" in p["message"]


def test_trust_entry_that_does_not_parse(cli: Cli, faq_store: Path) -> None:
    _sql(
        faq_store,
        "UPDATE trust_entries SET pem = '-----BEGIN CERTIFICATE-----\nAAAA\n"
        "-----END CERTIFICATE-----\n' WHERE appliance = 'cas-clinic'",
    )
    p = _only(_doctor(cli), "trust-unreadable")
    assert p["subject"] == "trust cas-clinic"
    assert "ccapki trust remove cas-clinic" in p["fix"]


def test_old_pending_key(cli: Cli, faq_store: Path, tmp_path: Path) -> None:
    made = NOW - dt.timedelta(days=100)
    r = cli("csr", "cas-clinic", "--out", str(tmp_path / "csrs"), now=made)
    assert r.code == 0, r.both
    # a recent one is no finding
    assert cli("csr", "cas-annex", "--out", str(tmp_path / "csrs")).code == 0
    p = _only(_doctor(cli, code=0), "pending-key-old")
    assert p["severity"] == "warning"
    assert "(cas-clinic, pending)" in p["subject"]
    assert "100 days ago" in p["message"]
    assert "ccapki keys retire" in p["fix"]


# ---------------------------------------------------------------------------- backups


def test_backup_age_from_the_audit_log(cli: Cli, faq_store: Path, tmp_path: Path) -> None:
    # the real `ccapki backup create` writes the audit row doctor reads
    env = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}
    out = tmp_path / "nightly.backup"
    r = cli("backup", "create", "--out", out, env=env, now=NOW - dt.timedelta(days=10))
    assert r.code == 0, r.both
    p = _only(_doctor(cli, code=0), "backup-old")
    assert "10 days ago" in p["message"]
    assert "ccapki backup create --out FILE" in p["fix"]
    out.unlink()
    r = cli("backup", "create", "--out", out, env=env, now=NOW - dt.timedelta(days=1))
    assert r.code == 0, r.both
    assert _doctor(cli, code=0).json()["problems"] == []
    assert "healthy: no problems found" in cli("doctor").out


def test_backup_rules() -> None:
    assert [p.code for p in backup_problems(None, NOW)] == ["backup-none"]
    assert backup_problems(NOW - dt.timedelta(days=7), NOW) == []
    old = backup_problems(NOW - dt.timedelta(days=7, seconds=1), NOW)
    assert [p.code for p in old] == ["backup-old"]
    assert old[0].severity is Severity.WARNING


def test_chain_rules_end_at_a_root_or_an_external_ca() -> None:
    ca, root = _outside_ca()
    inter = ca.certificate
    key = generate_key(KeyType.ECDSA_P256)
    request = IdentityRequest("x.example.org", ("x.example.org",))
    leaf = issue_identity(request, key.public_key(), now=NOW, days=30, issuer=ca)

    def pems(*certs: x509.Certificate) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)

    assert Chains().problem(leaf, pems(inter, root)) is None
    stops = Chains().problem(leaf, pems(inter))
    assert stops is not None
    assert "it stops at Outside CA: it lacks its issuer CN=Outside Root" in stops.text
    assert stops.lacks == root.subject  # what to import
    # an external CA the store holds ends a chain: its root is not ours to keep
    assert Chains([root], frozenset({sha256(root)})).problem(leaf, pems(inter)) is None
    assert Chains([inter], frozenset({sha256(inter)})).problem(leaf, "") is None
    # one of our own CAs does not: the root belongs in the stored chain
    assert Chains([root], frozenset()).problem(leaf, pems(inter)) is not None
    missing = Chains().problem(leaf, pems(root))
    assert missing is not None
    assert "lacks the issuer of x.example.org" in missing.text
    assert missing.lacks == inter.subject
    self_signed = issue_identity(request, key.public_key(), now=NOW, days=30, self_key=key)
    assert Chains().problem(self_signed, "") is None
    # the signing key of another CA under the same name: a signature that does not verify
    other, _ = _outside_ca()
    bad = Chains().problem(leaf, pems(other.certificate, root))
    assert bad is not None
    assert "signature" in bad.text
    assert bad.lacks is None  # nothing to import: the chain is wrong


def test_a_problem_always_names_its_fix() -> None:
    with pytest.raises(ValueError, match="fix"):
        Problem("x", Severity.ERROR, "s", "m", "")


# ---------------------------------------------------------------------------- the files


@pytest.mark.parametrize(
    ("name", "mode", "wanted"),
    [
        pytest.param("ccapki.db", 0o644, "600", marks=pytest.mark.sqlite_only),
        ("data.key", 0o644, "600"),
        ("", 0o755, "700"),
    ],
)
def test_loose_file_modes(cli: Cli, faq_store: Path, name: str, mode: int, wanted: str) -> None:
    path = faq_store / name if name else faq_store
    path.chmod(mode)
    p = _only(_doctor(cli), "file-mode")
    assert p["subject"] == str(path)
    assert p["fix"] == f"run `chmod {wanted} {path}`"


@pytest.mark.sqlite_only  # the SQLite file itself
def test_corrupted_page_is_caught(cli: Cli, faq_store: Path) -> None:
    db = faq_store / "ccapki.db"
    con = _db(faq_store)
    try:
        page = con.execute("PRAGMA page_size").fetchone()[0]
        (root,) = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'certificates'"
        ).fetchone()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    assert 1 < root < db.stat().st_size // page  # a page in the middle of the file
    with db.open("r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\xa5" * page)
    r = _doctor(cli)
    p = _only(r, "database-damaged")
    assert "integrity" in p["message"]
    assert "ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE" in p["fix"]
    assert ".recover" in p["fix"]
    # the real command in its own process: the same finding, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "ccapki", "--home", str(faq_store), "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "database-damaged" not in proc.stdout  # text output: message and fix
    assert "integrity check finds the database damaged" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.sqlite_only  # the SQLite file itself
def test_database_file_that_is_not_sqlite(cli: Cli, faq_store: Path) -> None:
    db = faq_store / "ccapki.db"
    with db.open("r+b") as f:
        f.write(b"\x00" * 100)  # the header gone
    p = _only(_doctor(cli), "database-unreadable")
    assert "not a SQLite database" in p["message"]


@pytest.mark.sqlite_only  # the SQLite file itself
def test_database_missing_next_to_its_data_key(cli: Cli, faq_store: Path) -> None:
    (faq_store / "ccapki.db").unlink()
    p = _only(_doctor(cli), "database-missing")
    assert "backup restore" in p["fix"]


def test_unknown_schema_version(cli: Cli, faq_store: Path) -> None:
    _sql(faq_store, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
    p = _only(_doctor(cli), "schema-newer")
    assert "0099_from_the_future" in p["message"]
    assert "upgrade ccapki" in p["fix"]


def test_every_command_refuses_a_store_newer_than_this_ccapki(cli: Cli, faq_store: Path) -> None:
    # before: Alembic's "Can't locate revision" as an internal error (exit 70)
    _sql(faq_store, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
    before = db_bytes(faq_store)
    for args in (("keys", "list"), ("inspect", "cam"), ("apply", FAQ)):
        r = error_with_hint(cli(*args))
        assert "0099_from_the_future" in r.err
        assert "use a ccapki that knows schema 0099_from_the_future" in r.err
    assert db_bytes(faq_store) == before


def test_older_schema_is_examined_never_migrated(cli: Cli, faq_store: Path) -> None:
    from alembic import command
    from alembic.config import Config

    import ccapki.store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(ccapki.store.__file__).parent / "migrations"))
    with store_sql(faq_store) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001_initial")
    before = db_bytes(faq_store)
    r = _doctor(cli, code=1)  # an error: every other command refuses the store
    p = _only(r, "schema-older")
    assert p["severity"] == "error"
    assert "0001_initial" in p["message"]
    assert "ccapki upgrade" in p["fix"]
    assert r.json()["skipped"]
    assert db_bytes(faq_store) == before  # not migrated
    assert cli("keys", "list").code == 2  # nor by any other command: refused, unchanged
    assert db_bytes(faq_store) == before
    assert cli("upgrade").code == 0  # what the fix says
    # (and the copy the upgrade kept of a SQLite store, to delete once it serves)
    kept = [] if BACKEND == "postgresql" else ["upgrade-copy-kept"]
    assert [p["code"] for p in _problems(_doctor(cli, code=0))] == [*kept, "backup-none"]


def test_schema_rules() -> None:
    known = ("0001_initial", "0002_deployments")
    assert schema_problems("0002_deployments", "0002_deployments", known) == []
    (older,) = schema_problems("0001_initial", "0002_deployments", known)
    assert older.code == "schema-older"
    assert older.severity is Severity.ERROR
    (newer,) = schema_problems("0003_x", "0002_deployments", known)
    assert newer.code == "schema-newer"
    assert newer.severity is Severity.ERROR


def test_no_store_is_bad_input(cli: Cli, home: Path) -> None:
    r = error_with_hint(cli("doctor"))
    if BACKEND == "postgresql":  # an empty database: named, and the store made in it
        assert "holds no ccapki schema: it is not a ccapki store" in r.err
        assert "hint: run `ccapki init` to create the store in it" in r.err
    else:
        assert "no ccapki store" in r.err


def test_several_deployments_each_named_in_findings_and_fixes(
    cli: Cli, faq_store: Path, tmp_path: Path
) -> None:
    hospital = tmp_path / "hospital.toml"
    hospital.write_text(FAQ.read_text().replace('name = "faq-campus"', 'name = "hospital"'))
    assert cli("apply", hospital, "--new-deployment").code == 0
    _sql(faq_store, "DELETE FROM keys WHERE identity = 'cas-guest' AND deployment = 'hospital'")
    r = _doctor(cli)
    assert r.json()["deployments"] == ["faq-campus", "hospital"]
    assert r.json()["checked"]["identities"] == 12
    p = _only(r, "key-missing")
    assert p["deployment"] == "hospital"
    assert p["subject"] == "cas-guest v1"
    assert "`ccapki --deployment hospital backup restore FILE --identity cas-guest`" in p["fix"]
    assert "[hospital] cas-guest v1" in cli("doctor").out
    # one deployment at a time: the campus is whole
    campus = _doctor(cli, code=0, env={"CCAPKI_DEPLOYMENT": "faq-campus"}).json()
    assert campus["checked"]["identities"] == 6
    assert _codes(_doctor(cli, "--strict", env={"CCAPKI_DEPLOYMENT": "hospital"})) == [
        "key-missing",
        "backup-none",
    ]


def test_shared_cas_belong_to_every_deployment(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    shared = FAQ.read_text().replace('source = "internal"', 'source = "internal"\nca = "shared"', 1)
    campus = write(tmp_path / "campus.toml", shared)
    hospital = write(tmp_path / "hospital.toml", shared.replace('"faq-campus"', '"hospital"'))
    assert cli("apply", campus).code == 0
    assert cli("apply", hospital, "--new-deployment").code == 0
    assert _doctor(cli, code=0).json()["checked"]["cas"] == 2  # one pair, shared
    _sql(
        keyfile_store,
        "DELETE FROM keys WHERE fingerprint = (SELECT spki FROM cas WHERE kind = 'internal-ca')",
    )
    for name in ("faq-campus", "hospital"):
        r = _doctor(cli, env={"CCAPKI_DEPLOYMENT": name})
        p = _only(r, "ca-key-missing")
        assert p["deployment"] is None  # not one deployment's: every one's
        assert r.json()["checked"]["cas"] == 2


def test_unknown_deployment_is_bad_input(cli: Cli, faq_store: Path) -> None:
    r = error_with_hint(cli("--deployment", "hospital", "doctor"))
    assert "faq-campus" in r.err


# ---------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean PostgreSQL database (``CCAPKI_TEST_PG_URL``); CI must provide one."""
    url = clean_pg_url()  # an empty database
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    monkeypatch.setenv("CCAPKI_PASSPHRASE", PASS)
    return url


def _pg(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_doctor_on_postgres(cli: Cli, home: Path, pg_url: str, fast_scrypt: None) -> None:
    assert cli("init").code == 0
    assert cli("apply", FAQ).code == 0
    healthy = _doctor(cli, code=0).json()
    assert healthy["checked"]["identities"] == 6
    assert [p["code"] for p in healthy["problems"]] == ["backup-none"]

    _pg(pg_url, "UPDATE keys SET sealed = overlay(sealed placing '\\xff'::bytea from 1 for 1) "
        "WHERE identity = 'cas-dorm'")  # fmt: skip
    assert "(cas-dorm, active)" in _only(_doctor(cli), "key-damaged")["subject"]

    _pg(pg_url, "DELETE FROM keys WHERE identity = 'cas-guest'")
    codes = _codes(_doctor(cli))
    assert codes.count("key-missing") == 1
    assert "key-damaged" in codes

    _pg(pg_url, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
    assert _only(_doctor(cli), "schema-newer")


def test_postgres_unreachable_is_a_finding(cli: Cli, home: Path, pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    dead = make_url(pg_url).set(port=1).render_as_string(hide_password=False)
    p = _only(_doctor(cli, env={"CCAPKI_DATABASE_URL": dead}), "database-unreachable")
    assert "CCAPKI_DATABASE_URL" in p["fix"]
    assert str(make_url(pg_url).database) in p["subject"]
    assert "***" in p["subject"]
