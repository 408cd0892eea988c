"""Issue 8, points 1, 2, 3, 12 and three messages of 15, end to end on a real store.

1. Importing what the store already holds is a no-op that says so ("already held: NAME vN").
2. An imported key is recorded as what it is (rsa-2048 from keytool), not as the plan's type.
3. A PKCS#7 that ``openssl crl2pkcs7`` writes is imported; its BER note is shown.
12. ``csr --out`` somewhere unwritable changes nothing in the store.
15. A refusal's hint fits its reasons; ``keys retire`` of an active key says so; ``keys list``
    has a header row.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.pki.issue import build_name
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from kit.certs import NOW, OutsideCA, pem
from kit.cli import CliRunner, Result, ok, write
from kit.tools import openssl, require_tool

from .conftest import THIRD_PARTY_DEP, open_store, tp_names

PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
NOENC = serialization.NoEncryption()
IDENTITIES = ("cam", "cas-ha", "cas-tp")


def keys_json(cli: CliRunner) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    return rows


def snapshot(cli: CliRunner, home: Path) -> tuple[Any, ...]:
    """Everything an import or a CSR could change: keys, versions, CAs, CSRs, the audit log."""
    keys = sorted((k["fingerprint"], k["key_type"], k["state"]) for k in keys_json(cli))
    with open_store(home) as store:
        hist = {n: [v.fingerprint for v in store.identities.history(n)] for n in IDENTITIES}
        return (
            keys,
            hist,
            [c.fingerprint for c in store.cas.list()],
            len(store.csrs.list()),
            store.count("audit"),
        )


@pytest.fixture
def applied(deployed: Callable[[str], Path]) -> Path:
    return deployed(THIRD_PARTY_DEP)


# ---------------------------------------------------------------------------- 1. already held


@pytest.mark.parametrize("fmt", ["pkcs12", "pem-bundle", "cert", "fullchain", "der"])
def test_reimporting_an_export_is_a_noop_that_says_so(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"cas-ha.{fmt}"
    pw = ["--password", "pw-12345"] if fmt == "pkcs12" else []
    ok(cli("export", "cas-ha", "--format", fmt, "--out", out, *pw))
    before = snapshot(cli, home)
    for _ in range(2):
        r = ok(cli("import", out, *pw))
        assert "already held: cas-ha v1" in r.out, r.out
        assert "imported" not in r.out
        assert snapshot(cli, home) == before


def test_held_certificate_among_new_ones_imports_only_the_new(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """A batch holding a held identity and a new one: the new one imports, the other is named."""
    ok(cli("export", "cas-ha", "--format", "pem-bundle", "--out", tmp_path / "ha.pem"))
    key = generate_key(KeyType.ECDSA_P256)
    cert = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), key.public_key(), **tp_names()
    )
    write(tmp_path / "tp" / "cert.pem", pem(cert) + pem(outside.inter) + pem(outside.root))
    write(tmp_path / "tp" / "key.pem", key.private_bytes(PEM, PKCS8, NOENC))
    r = ok(cli("import", tmp_path / "ha.pem", tmp_path / "tp"))
    assert "already held: cas-ha v1" in r.out
    assert "imported cas-tp v1" in r.out
    with open_store(home) as store:
        assert [v.version for v in store.identities.history("cas-ha")] == [1]


def test_a_new_certificate_for_a_key_the_store_holds_imports(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """The key is given again with a new certificate (a pem-bundle): no second key row."""
    ok(cli("export", "cas-ha", "--format", "cert", "--out", tmp_path / "v1.crt"))
    ok(cli("export", "cas-ha", "--format", "key", "--out", tmp_path / "ha.key"))
    key = serialization.load_pem_private_key((tmp_path / "ha.key").read_bytes(), None)
    spec = next(i for i in ok(cli("plan", "--json")).json()["identities"] if i["name"] == "cas-ha")
    cert = outside.sign(
        build_name(spec["common_name"], "Workflow Org"),
        key.public_key(),
        dns=spec["san_dns"],
        ips=spec["san_ip"],
    )
    bundle = write(
        tmp_path / "renewed.pem",
        pem(cert) + pem(outside.inter) + pem(outside.root) + (tmp_path / "ha.key").read_bytes(),
    )
    r = ok(cli("import", bundle))
    assert "imported cas-ha v2" in r.out
    assert "key from store" in r.out
    rows = [k for k in keys_json(cli) if k["fingerprint"] == public_key_fingerprint(key)]
    assert len(rows) == 1
    assert rows[0]["state"] == "active"
    assert "already held: cas-ha v2" in ok(cli("import", bundle)).out
    # the older certificate again: held, and not made current again
    before = snapshot(cli, home)
    r = ok(cli("import", tmp_path / "v1.crt"))
    assert "already held: cas-ha v1 (the current version is v2)" in r.out
    assert snapshot(cli, home) == before


def test_reimporting_known_cas_says_so(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    cas = write(tmp_path / "cas.pem", pem(outside.inter) + pem(outside.root))
    assert "kept CA Outside Trust Root" in ok(cli("import", cas)).out
    before = snapshot(cli, home)
    r = ok(cli("import", cas))
    assert "already held: CA Outside Trust Issuing CA" in r.out
    assert "already held: CA Outside Trust Root" in r.out
    assert snapshot(cli, home) == before


@pytest.mark.integration
def test_keytool_pkcs12_imported_twice_with_its_rsa_key_type(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path
) -> None:
    keytool = require_tool("keytool")
    ks = tmp_path / "cas-tp.p12"
    proc = subprocess.run(
        [
            keytool,
            "-genkeypair",
            "-alias",
            "cas-tp",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-dname",
            "CN=cas-tp.example.org, O=Workflow Org",
            "-ext",
            "SAN=dns:cas-tp.example.org,ip:10.6.0.1",
            "-ext",
            "EKU=serverAuth,clientAuth",
            "-startdate",
            f"{NOW - dt.timedelta(days=1):%Y/%m/%d %H:%M:%S}",
            "-validity",
            "365",
            "-storetype",
            "PKCS12",
            "-keystore",
            str(ks),
            "-storepass",
            "changeit",
            "-keypass",
            "changeit",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    p12 = pkcs12.load_pkcs12(ks.read_bytes(), b"changeit")
    assert p12.cert is not None
    spki = public_key_fingerprint(p12.cert.certificate.public_key())
    r = ok(cli("import", ks, "--password", "changeit"))
    assert "imported cas-tp v1" in r.out
    # 2. the key is what keytool made, not the plan's ecdsa-p256
    (row,) = [k for k in keys_json(cli) if k["fingerprint"] == spki]
    assert (row["key_type"], row["identity"], row["state"]) == ("rsa-2048", "cas-tp", "active")
    (line,) = [ln for ln in ok(cli("keys", "list")).out.splitlines() if spki[:16] in ln]
    assert "rsa-2048" in line
    # 1. the same keytool file again: a no-op
    before = snapshot(cli, home)
    r = ok(cli("import", ks, "--password", "changeit"))
    assert "already held: cas-tp v1" in r.out
    assert snapshot(cli, home) == before


# ---------------------------------------------------------------------------- 2. key types


def test_imported_keys_record_their_own_type(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    key = generate_key(KeyType.RSA_2048)
    cert = outside.sign(
        build_name("cas-tp.example.org", "Workflow Org"), key.public_key(), **tp_names()
    )
    certs = write(tmp_path / "cert.pem", pem(cert) + pem(outside.inter) + pem(outside.root))
    keyfile = write(tmp_path / "saved.key", key.private_bytes(PEM, PKCS8, NOENC))
    ok(cli("import", certs, "--key", keyfile))
    # a key with no certificate yet, kept pending
    spare = generate_key(KeyType.ECDSA_P384)
    r = ok(cli("import", write(tmp_path / "spare.key", spare.private_bytes(PEM, PKCS8, NOENC))))
    assert "kept 1 key with" in r.out
    types = {k["fingerprint"]: k["key_type"] for k in keys_json(cli)}
    assert types[public_key_fingerprint(key)] == "rsa-2048"
    assert types[public_key_fingerprint(spare)] == "ecdsa-p384"


# ---------------------------------------------------------------------------- 3. crl2pkcs7


@pytest.mark.integration
@pytest.mark.parametrize("outform", ["PEM", "DER"])
def test_import_openssl_crl2pkcs7_chain_in_either_order(
    cli: CliRunner,
    applied: Path,
    home: Path,
    tmp_path: Path,
    outside: OutsideCA,
    outform: str,
) -> None:
    inter = write(tmp_path / "int.crt", pem(outside.inter))
    root = write(tmp_path / "root.crt", pem(outside.root))
    outputs: list[Result] = []
    for name, first, second in (("a.p7b", inter, root), ("b.p7b", root, inter)):
        out = tmp_path / name
        proc = openssl(
            "crl2pkcs7", "-nocrl", "-certfile", str(first), "-certfile", str(second),
            "-outform", outform, "-out", str(out),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outputs.append(ok(cli("import", out)))
    notes = [ln for r in outputs for ln in r.out.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 1, [r.out for r in outputs]
    assert "not strict DER" in notes[0]
    assert "kept CA Outside Trust Root" in outputs[0].out
    assert "already held: CA Outside Trust Root" in outputs[1].out


# ---------------------------------------------------------------------------- 12. csr --out


def test_csr_to_an_unwritable_folder_leaves_the_store_unchanged(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path
) -> None:
    blocker = write(tmp_path / "a-file", "not a folder\n")
    before = snapshot(cli, home)
    r = cli("csr", "cas-tp", "--out", blocker / "csrs")
    assert r.code == 2, r.both
    assert r.err.startswith("error: ")
    assert "nothing was written" in r.err
    assert "\nhint: " in r.err
    assert snapshot(cli, home) == before
    assert len(keys_json(cli)) == len(before[0])  # no new pending key


def test_csr_failing_on_its_second_file_writes_and_keeps_nothing(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path, tmp_path: Path
) -> None:
    from kit.cli import standalone

    from .conftest import deployment

    deployed(
        deployment(
            cas=[
                standalone("cas-tp", "10.6.0.1", source="third-party"),
                standalone("cas-tp2", "10.7.0.1", source="third-party"),
            ]
        )
    )
    out = tmp_path / "csrs"
    (out / "cas-tp2.csr").mkdir(parents=True)  # the second file cannot be written
    with open_store(home) as store:
        keys_before, csrs_before = len(store.keys.list()), len(store.csrs.list())
    r = cli("csr", "cas-tp", "cas-tp2", "--out", out)
    assert r.code == 2, r.both
    assert "nothing was written" in r.err
    assert not (out / "cas-tp.csr").exists()
    with open_store(home) as store:
        assert (len(store.keys.list()), len(store.csrs.list())) == (keys_before, csrs_before)


# ---------------------------------------------------------------------------- 15. messages


def _pending_csr(cli: CliRunner, tmp_path: Path) -> x509.CertificateSigningRequest:
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    return x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())


def test_refusal_hint_fits_a_missing_san(
    cli: CliRunner, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    cert = outside.sign_csr(_pending_csr(cli, tmp_path), dns=["cas-tp.example.org"], ips=[])
    files = [
        write(tmp_path / "cert.pem", pem(cert)),
        write(tmp_path / "chain.pem", pem(outside.inter) + pem(outside.root)),
    ]
    r = cli("import", *files)
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert "names missing from the SANs: 10.6.0.1" in error
    assert hint.startswith("hint: ")
    assert "intermediate" not in hint
    assert "SAN" in hint
    assert "ccapki csr cas-tp" in hint
    assert "--force" in hint


def test_refusal_hint_fits_a_missing_intermediate(
    cli: CliRunner, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    cert = outside.sign_csr(_pending_csr(cli, tmp_path))
    r = cli("import", write(tmp_path / "cert.pem", pem(cert)))
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert "the chain is incomplete" in error
    assert "intermediate" in hint
    assert "SAN" not in hint


def test_keys_retire_an_active_key_says_it_is_active(
    cli: CliRunner, applied: Path, home: Path
) -> None:
    (active,) = [k for k in keys_json(cli) if k["identity"] == "cas-ha"]
    assert active["state"] == "active"
    before = snapshot(cli, home)
    r = cli("keys", "retire", active["fingerprint"][:16])
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert "0 pending keys" not in error
    assert f"key {active['fingerprint'][:16]}" in error
    assert "active" in error
    assert "cas-ha" in error
    assert hint.startswith("hint: ")
    assert "pending" in hint
    assert snapshot(cli, home) == before


def test_keys_retire_unknown_and_already_retired(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    r = cli("keys", "retire", "ffffffffffffffff")
    assert r.code == 2
    assert "no key starts with 'ffffffffffffffff'" in r.err
    _pending_csr(cli, tmp_path)
    (pend,) = [k for k in keys_json(cli) if k["state"] == "pending"]
    ok(cli("keys", "retire", pend["fingerprint"][:12]))
    r = ok(cli("keys", "retire", pend["fingerprint"][:12]))
    assert "already retired" in r.out


def test_keys_list_has_a_header_row(cli: CliRunner, applied: Path) -> None:
    lines = ok(cli("keys", "list")).out.splitlines()
    header = lines[0].split()
    assert header == ["fingerprint", "state", "type", "identity", "created", "where"]
    assert len(lines) == 1 + len(keys_json(cli))


def test_inspect_shows_the_ber_note_on_stderr(
    cli: CliRunner, tmp_path: Path, outside: OutsideCA
) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs7

    der = pkcs7.serialize_certificates([outside.inter, outside.root], serialization.Encoding.DER)
    count = der[1] & 0x7F
    ber = b"\x30\x80" + der[2 + count :] + b"\x00\x00"  # indefinite length: BER, not DER
    path = write(tmp_path / "chain.p7b", ber)
    r = ok(cli("inspect", path, "--format", "json"))
    assert r.err.startswith(f"note: {path}: ")
    assert "not strict DER" in r.err
    assert r.json()["subject"]
