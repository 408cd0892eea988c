"""The CA's answer to a CSR whose key was retired (``ccapki keys retire``).

Found in a new administrator's walkthrough: `ccapki csr cas-tp`, `ccapki keys retire` of
that pending key, the CA signed the CSR anyway, and `ccapki import e.crt root.pem` said
"imported cas-tp v1", matching the certificate to a key documented as "given up (kept
sealed, never matched to a new certificate)". Now refused (exit 2, nothing written: when
the key was retired, a new CSR or --force), and --force takes it, the key active again
(audited as ``key-revive``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from ccapki.store import Store
from kit.certs import OutsideCA, pem
from kit.cli import THIRD_PARTY_TP, Cli, db_bytes, error_with_hint, ok, write

TP = THIRD_PARTY_TP


def _keys(cli: Cli, identity: str) -> list[dict[str, Any]]:
    return [k for k in ok(cli("keys", "list", "--json")).json() if k["identity"] == identity]


def test_the_answer_to_a_retired_csr_is_refused_and_force_revives_the_key(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    ok(cli("apply", write(tmp_path / "tp.toml", TP)))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "e.csr"))
    (pending,) = [k for k in _keys(cli, "cas-tp") if k["state"] == "pending"]
    fp = pending["fingerprint"]
    ok(cli("keys", "retire", fp[:16]))
    csr = x509.load_pem_x509_csr((tmp_path / "e.csr").read_bytes())
    crt = write(tmp_path / "e.crt", pem(outside.sign_csr(csr)))
    root = write(tmp_path / "root.pem", pem(outside.root))
    inter = write(tmp_path / "inter.pem", pem(outside.inter))

    before = db_bytes(keyfile_store)
    r = error_with_hint(cli("import", crt, inter, root))
    assert (
        f"error: refused (nothing was imported): {crt} for cas-tp: it is on key {fp[:16]}, "
        "retired on 2026-11-27 (`ccapki keys retire`: given up, never matched to a new "
        "certificate)\n"
    ) in r.err, r.err
    assert r.err.endswith(
        "hint: make a new CSR (`ccapki csr cas-tp`) and have the CA sign that one; `--force` "
        "takes this certificate anyway, reviving the retired key\n"
    ), r.err
    assert db_bytes(keyfile_store) == before  # nothing written
    assert [k["state"] for k in _keys(cli, "cas-tp")] == ["retired"]

    r = ok(cli("import", crt, inter, root, "--force"))
    assert "imported cas-tp v1: " in r.out, r.out
    assert (
        f"  warning: its key {fp[:16]} was retired on 2026-11-27 (`ccapki keys retire`): "
        "taken with --force, the key is active again\n"
    ) in r.out, r.out
    assert [k["state"] for k in _keys(cli, "cas-tp")] == ["active"]
    with Store.open(keyfile_store) as store:  # a key-file store: no passphrase
        revived = [e for e in store.audit.log() if e.action == "key-revive"]
    assert [(e.subject, e.detail) for e in revived] == [("cas-tp", {"fingerprint": fp})]
