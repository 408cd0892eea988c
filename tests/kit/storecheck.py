"""What a store must hold after any run, finished, killed or raced: :func:`check_store`.

It reads the database directly (SQL, not the repositories under test) and unseals every
key with the store's data key, asserting:

- SQLite's ``PRAGMA integrity_check`` is ``ok`` (and the foreign keys hold);
- each identity's versions are 1..n, each certificate's key is in the store (never a
  certificate without its key), and each identity has exactly one active key: its newest
  version's;
- every key decrypts and is the key its fingerprint names, and every certificate's and
  CA's public key is its key's;
- serial numbers are unique (identities and CAs);
- the audit log has exactly one ``issue`` row per certificate, naming its fingerprint;
- no trust store holds a certificate twice.

It returns what it found, for the caller's own expectations.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, text

from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import Store
from kit.pgmode import store_url

__all__ = ["StoreFacts", "check_store"]


@dataclass(frozen=True)
class StoreFacts:
    #: (deployment, identity) -> how many versions it holds
    versions: dict[tuple[str, str], int]
    #: (deployment, identity) -> its pending keys (CSRs made, no certificate yet)
    pending: dict[tuple[str, str], int]
    certificates: int
    keys: int
    cas: int

    def names(self) -> set[str]:
        return {name for _, name in self.versions}


def _rows(conn: object, sql: str) -> list[dict[str, object]]:
    return [dict(r._mapping) for r in conn.execute(text(sql))]  # type: ignore[attr-defined]


def check_store(home: Path, url: str | None = None) -> StoreFacts:
    """Assert the invariants above on the store in ``home`` (or at ``url``)."""
    db_url = url or store_url(home)  # the SQLite file, or home's schema on PostgreSQL
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if not sqlite:  # one snapshot for every table (READ COMMITTED: one per SELECT)
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            # in one transaction: a COMMIT a killed client sent just before it died may land
            # on the server while these run, and must be seen whole or not at all (a full
            # run saw a batch's keys but not its certificates, read a moment apart)
            with conn.begin():
                if sqlite:
                    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                    assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                certs = _rows(conn, "SELECT * FROM certificates ORDER BY id")
                keys = _rows(conn, "SELECT * FROM keys ORDER BY id")
                cas = _rows(conn, "SELECT * FROM cas ORDER BY id")
                audit = _rows(conn, "SELECT * FROM audit WHERE action = 'issue' ORDER BY id")
                trust = _rows(conn, "SELECT * FROM trust_entries WHERE removed_at IS NULL")
    finally:
        engine.dispose()

    def dep(row: dict[str, object]) -> str:
        return str(row.get("deployment") or "")

    # versions 1..n per identity
    by_identity: dict[tuple[str, str], list[dict[str, object]]] = {}
    for c in certs:
        by_identity.setdefault((dep(c), str(c["identity"])), []).append(c)
    for ident, rows in by_identity.items():
        got = sorted(int(str(r["version"])) for r in rows)
        assert got == list(range(1, len(rows) + 1)), f"{ident}: versions {got}"

    # every key decrypts and is the key its fingerprint names
    with Store.open(home, url=url) as store:
        keyring = store.keyring
        public: dict[str, bytes] = {}
        for k in keys:
            spki = str(k["fingerprint"])
            der = keyring.open(bytes(k["nonce"]), bytes(k["sealed"]), spki)  # type: ignore[arg-type]
            key = serialization.load_der_private_key(der, password=None)
            assert public_key_fingerprint(key) == spki, f"key {spki[:16]} is another key"
            public[spki] = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    key_by_spki = {str(k["fingerprint"]): k for k in keys}

    def spki_der(cert: x509.Certificate) -> bytes:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    serials: Counter[int] = Counter()
    for c in certs:
        cert = x509.load_pem_x509_certificate(str(c["pem"]).encode())
        spki = str(c["spki"])
        assert spki in key_by_spki, f"{c['identity']} v{c['version']}: certificate without key"
        assert public[spki] == spki_der(cert), f"{c['identity']}: key does not match"
        serials[cert.serial_number] += 1
    for ca in cas:
        cert = x509.load_pem_x509_certificate(str(ca["pem"]).encode())
        serials[cert.serial_number] += 1
        if str(ca["spki"]) in public:
            assert public[str(ca["spki"])] == spki_der(cert), f"CA {ca['name']}: another key"
        else:
            assert ca["kind"] == "external", f"CA {ca['name']} has no key"
    reused = [s for s, n in serials.items() if n > 1]
    assert not reused, f"{len(reused)} serial number(s) used twice"

    # exactly one active key per identity: its newest version's
    active: dict[tuple[str, str], list[str]] = {}
    pending: Counter[tuple[str, str]] = Counter()
    for k in keys:
        if k["identity"] is None:
            continue
        ident = (dep(k), str(k["identity"]))
        if k["state"] == "active":
            active.setdefault(ident, []).append(str(k["fingerprint"]))
        elif k["state"] == "pending":
            pending[ident] += 1
    for ident, rows in by_identity.items():
        newest = max(rows, key=lambda r: int(str(r["version"])))
        assert active.get(ident) == [newest["spki"]], (
            f"{ident}: active keys {active.get(ident)}, newest version's {newest['spki']}"
        )
    extra = set(active) - set(by_identity)
    assert not extra, f"active keys without a certificate: {sorted(extra)}"

    # one audit row per certificate
    logged = Counter(
        (str(a["subject"]), json.loads(str(a["detail"]))["fingerprint"]) for a in audit
    )
    wanted = Counter((str(c["identity"]), str(c["fingerprint"])) for c in certs)
    assert logged == wanted, "the audit log's issue rows are not the certificates"

    # no trust store holds a certificate twice
    entries = Counter((dep(e), str(e["appliance"]), str(e["fingerprint"])) for e in trust)
    twice = [e for e, n in entries.items() if n > 1]
    assert not twice, f"trust entries held twice: {twice[:3]}"

    return StoreFacts(
        versions={i: len(r) for i, r in by_identity.items()},
        pending=dict(pending),
        certificates=len(certs),
        keys=len(keys),
        cas=len(cas),
    )
