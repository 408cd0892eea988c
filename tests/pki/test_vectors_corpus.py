"""pyca's whole test corpus through the commands that read a user's file.

cryptography-vectors (a dev dependency, the version of the locked cryptography) holds
hundreds of real-world and deliberately malformed certificates, CSRs, CRLs, PKCS#7 and
PKCS#12 bundles and private keys in every encoding and encryption. Each such file (of
x509/PKITS_data, its 1,500 files of four kinds: a sample) is given to ``inspect`` (JSON;
text; with its password where it has one), a quarter of them to ``import`` and ``trust
add``, every bundle to ``check-ha``, all in process. Each run holds the standard of
every command: exit 0 with a report, or one ``error:`` line and a ``hint:`` with exit 2;
never a traceback, an internal error (exit 70) or a private key on the terminal; and a
refused ``import`` or ``trust add`` leaves the store byte for byte as it was.

``inspect`` must never claim what the file is not: each certificate, CSR or key it reports
is one the cryptography library itself reads from that file (same SHA-256), so a CSR is
never shown as a certificate, nor a certificate as a key.

The tricky cases this corpus found have their own, minted tests in test_corpus_vectors.py.
Without the package this test skips on a laptop and fails under CI (see kit.tools.need).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import importlib.resources
import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from kit import pgmode
from kit.cli import Cli, Result, db_bytes, deployment, ha_pair, ok, standalone, write
from kit.tools import need

pytestmark = pytest.mark.slow  # ~1,000 runs of ccapki in process: 10-20 s

#: the corpus's folders of files a user hands over (the rest: cipher and hash test data)
FOLDERS = ("x509", "pkcs7", "pkcs12", "asymmetric")
#: their files' suffixes (asymmetric/ also holds NIST's .txt/.rsp data: not such files)
SUFFIXES = frozenset({".pem", ".der", ".crt", ".crl", ".p12", ".p7b", ".key", ".pub", ".cp"})
#: x509/PKITS_data: 1,500 files of four kinds, each many times over: every Nth of them
PKITS_STRIDE = 20
#: ``inspect`` (text) of every Nth file JSON refused too (each it reads: always)
TEXT_STRIDE = 3
#: ``import`` and ``trust add`` of every Nth file (all of them: about 10 s more)
WRITE_STRIDE = 4
#: on PostgreSQL every command connects to the database, and each comparison of the store
#: reads every table: every Nth of the files there (the parsing is the backend's no more)
PG_STRIDE = 4 if pgmode.BACKEND == "postgresql" else 1

#: the passwords the corpus's encrypted files were made with (pyca's own tests name them);
#: any other file is tried with "cryptography", the password of pkcs12/*-pwd.p12
PASSWORDS = {
    "enc-rsa-pkcs8.pem": "foobar",
    "enc-rsa-pkcs8.der": "foobar",
    "enc2-rsa-pkcs8.pem": "baz",
    "enc2-rsa-pkcs8.der": "baz",
    "rsa-40bitrc2.pem": "baz",
    "rsa_private_key.pem": "123456",
    "dsa_private_key.pem": "123456",
    "ec_private_key_encrypted.pem": "123456",
    "ec_private_key_encrypted.der": "123456",
    "key1.pem": "123456",
    "key2.pem": "a123456",
    "testrsa-encrypted.pem": "password",
    "enc-rsa-3des.pem": "password",
    "enc-ec-sha1-128-rc4.pem": "password",
    "rsa-pbe-3des-long-salt.pem": "password",
    "rsa-aes-192-cbc.pem": "PolarSSLTest",
    "rsa_pkcs8_pbes2_pbkdf2_2048_3des_sha224.pem": "PolarSSLTest",
    "rsa_pkcs8_pbes2_pbkdf2_2048_3des_sha384.pem": "PolarSSLTest",
    "rsa_pkcs8_pbes2_pbkdf2_2048_3des_sha512.pem": "PolarSSLTest",
    "rsa-rc2-cbc.pem": "Red Hat Enterprise Linux 7.4",
    "ed25519-scrypt.pem": "hunter42",
    "rsa-pbewithmd5anddescbc.pem": "hunter2",
}


def _password(path: Path) -> str:
    if path.name.startswith("pkcs12_s2k_pem-"):
        return "123456"
    if "PKITS_data" in path.parts:
        return "password"
    return PASSWORDS.get(path.name, "cryptography")


def _corpus_root() -> Path:
    try:
        root = importlib.resources.files("cryptography_vectors")
    except ModuleNotFoundError:
        need("cryptography-vectors is not installed (a dev dependency: `make` installs it)")
        raise
    return Path(str(root))


def _corpus() -> list[Path]:
    """The corpus's files of certificates, CSRs, CRLs, bundles and keys, in a fixed order."""
    root = _corpus_root()
    out: list[Path] = []
    for folder in FOLDERS:
        files = sorted(p for p in (root / folder).rglob("*") if p.suffix in SUFFIXES)
        pkits = [p for p in files if "PKITS_data" in p.parts]
        out += [p for p in files if "PKITS_data" not in p.parts] + pkits[::PKITS_STRIDE]
    assert len(out) > 500, f"the corpus at {root} is incomplete: {len(out)} files"
    return out


# ---------------------------------------------------------------------------- the standard


def _unsound(r: Result, name: str, findings: bool = False) -> str | None:
    """Why ``r`` breaks the standard of every command (None: it holds it); ``findings``:
    the command may exit 1 (findings, no error)."""
    if "Traceback" in r.both or "internal error" in r.both or r.code == 70:
        return f"{name}: {r.args[2:]}: a crash (exit {r.code}): {r.both[-300:]}"
    if "PRIVATE KEY" in r.both:
        return f"{name}: {r.args[2:]}: a private key on the terminal"
    if r.code == 0 or (findings and r.code == 1 and "error: " not in r.err):
        return None
    errors = [line for line in r.err.splitlines() if line.startswith("error: ")]
    if r.code != 2 or len(errors) != 1 or "\nhint: " not in r.err:
        return f"{name}: {r.args[2:]}: exit {r.code} without one error: and a hint: {r.err!r}"
    return None


# ---------------------------------------------------------------------------- the truth


@dataclass
class Truth:
    """What the cryptography library itself reads from a file: SHA-256 of each certificate
    and CSR (as ``inspect`` shows it, ``AA:BB:...``), and of each key's SubjectPublicKeyInfo."""

    certs: set[str] = field(default_factory=set)
    csrs: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.certs or self.csrs or self.keys)

    def cert(self, c: x509.Certificate) -> None:
        self.certs.add(c.fingerprint(hashes.SHA256()).hex(":").upper())
        self.key(c.public_key)

    def key(self, public: object) -> None:
        try:
            spki = public() if callable(public) else public
            der = spki.public_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except Exception:  # a key type cryptography cannot load: nothing to compare
            return
        self.keys.add(hashlib.sha256(der).hexdigest())


_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.S)


def _truth(data: bytes, password: bytes) -> Truth:
    t = Truth()
    blocks = [(m[1].decode(), m[0]) for m in _PEM.finditer(data)]
    ders = [] if blocks else [data]
    for label, block in blocks:
        if "PRIVATE KEY" in label:
            _try(lambda b=block: t.key(serialization.load_pem_private_key(b, None).public_key()))
            _try(
                lambda b=block: t.key(serialization.load_pem_private_key(b, password).public_key())
            )
            continue
        body = b"".join(line for line in block.splitlines()[1:-1] if b":" not in line)
        try:
            ders.append(base64.b64decode(body))
        except binascii.Error:
            continue
    for der in ders:
        _try(lambda d=der: t.cert(x509.load_der_x509_certificate(d)))
        _try(lambda d=der: [t.cert(c) for c in pkcs7.load_der_pkcs7_certificates(d)])
        _try(lambda d=der: _read_csr(t, x509.load_der_x509_csr(d)))
        for pw in (None, password):
            _try(lambda d=der, p=pw: t.key(serialization.load_der_private_key(d, p).public_key()))
            _try(lambda d=der, p=pw: _read_p12(t, d, p))
    return t


def _try(read: Callable[[], object]) -> None:
    """``read()``, if the file is of that kind (else nothing: cryptography raises); its
    warnings (BER read as DER) are no error here."""
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        read()


def _colon(der: bytes) -> str:
    return hashlib.sha256(der).digest().hex(":").upper()


def _read_csr(t: Truth, csr: x509.CertificateSigningRequest) -> None:
    t.csrs.add(_colon(csr.public_bytes(serialization.Encoding.DER)))
    t.key(csr.public_key)


def _read_p12(t: Truth, der: bytes, password: bytes | None) -> None:
    p12 = pkcs12.load_pkcs12(der, password)
    if p12.key is not None:
        t.key(p12.key.public_key)
    for c in [p12.cert, *p12.additional_certs]:
        if c is not None:
            t.cert(c.certificate)


def _false_claims(name: str, report: object, truth: Truth) -> Iterator[str]:
    """What ``inspect --json --all`` reported that cryptography does not read in the file
    (nothing when cryptography reads nothing of it: ccapki reads some files leniently)."""
    if not truth:
        return
    for item in report if isinstance(report, list) else [report]:
        assert isinstance(item, dict), item
        kind = item.get("kind", "certificate")
        if kind == "csr":
            if item["sha256"] not in truth.csrs:
                yield f"{name}: shown as a CSR ({item['sha256'][:11]}) cryptography does not read"
        elif kind == "private-key":
            if item["spki_sha256"] not in truth.keys:
                yield f"{name}: shown as a private key cryptography does not read"
        elif kind == "certificate":
            if item["sha256"] not in truth.certs:
                what = "a CSR" if truth.csrs else "a key" if truth.keys else "no certificate"
                yield f"{name}: shown as a certificate ({item['subject']}), but it is {what}"
        else:
            yield f"{name}: shown as {kind}"


# ---------------------------------------------------------------------------- the tests


def test_inspect_reads_every_file_of_the_corpus_or_refuses_it_cleanly(cli: Cli) -> None:
    """``inspect FILE --json --all`` of every file, again with its password when it has
    one (a PKCS#12 file, an encrypted key), and ``inspect FILE`` (text) of each it reads
    and of every TEXT_STRIDEth it refuses: the standard, the same verdict in text and JSON,
    and never a false claim."""
    root = _corpus_root()
    found: list[str] = []
    kinds: Counter[str] = Counter()
    for no, path in enumerate(_corpus()[::PG_STRIDE]):
        name = str(path.relative_to(root))
        pw = _password(path)
        runs = [cli("inspect", path, "--json", "--all")]
        if path.suffix == ".p12" or (runs[0].code != 0 and "password" in runs[0].err):
            runs.append(cli("inspect", path, "--json", "--all", "--password", pw))
        if runs[0].code == 0 or no % TEXT_STRIDE == 0:
            text = cli("inspect", path)
            runs.append(text)
            if text.code != runs[0].code:
                found.append(f"{name}: text exit {text.code}, JSON exit {runs[0].code}")
        found += [why for r in runs if (why := _unsound(r, name)) is not None]
        truth: Truth | None = None
        for r in runs:
            if r.code != 0 or "--json" not in r.args:
                continue
            report = json.loads(r.out)
            truth = truth if truth is not None else _truth(path.read_bytes(), pw.encode())
            found += _false_claims(name, report, truth)
            kind = (report[0] if isinstance(report, list) else report).get("kind", "certificate")
            kinds[kind] += 1
            said = {"csr": "(CSR)", "private-key": "private key"}.get(kind)
            # the text's title (before its table) says what the file holds, as JSON's kind
            title = " ".join(runs[-1].out.split("\u250c")[0].split())
            if runs[-1].code == 0 and said is not None and said not in title:
                found.append(f"{name}: the text does not say it is a {kind}: {title!r}")
    assert not found, "\n".join(found)
    # the corpus was read, not refused wholesale
    assert kinds["certificate"] > 100 // PG_STRIDE, kinds
    assert kinds["csr"] > 5 // PG_STRIDE, kinds
    assert kinds["private-key"] > 30 // PG_STRIDE, kinds


HA = ha_pair("casha", "10.5.0")


def test_import_trust_add_and_check_ha_refuse_the_corpus_cleanly(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Against a small deployment whose identities none of the files is for: ``import FILE``
    (with the file's password), ``trust add cas1 FILE`` and, for bundles, ``check-ha``: the
    standard, and a refusal writes nothing (a CA certificate is kept, a CA added: then the
    store is compared from there)."""
    cas = [standalone("cas1", "10.1.0.1"), HA]
    ok(cli("apply", write(tmp_path / "d.toml", deployment(cas=cas))))
    root = _corpus_root()
    found: list[str] = []
    before = db_bytes(keyfile_store)
    files = _corpus()
    for path in files[:: WRITE_STRIDE * PG_STRIDE]:
        name = str(path.relative_to(root))
        pw = _password(path)
        for args in (
            ("import", path, "--password", pw),
            ("trust", "add", "cas1", path),
        ):
            r = cli(*args)
            why = _unsound(r, name)
            if why is not None:
                found.append(why)
            now = db_bytes(keyfile_store)
            if r.code != 0 and now != before:
                found.append(f"{name}: {args[0]} refused (exit {r.code}) but wrote to the store")
            before = now
    bundles = [p for p in files if p.suffix in (".p12", ".p7b") and "PKITS_data" not in p.parts]
    for path in bundles[::PG_STRIDE]:  # as taken off both peers of an HA pair
        pw = _password(path)
        r = cli("check-ha", "casha", "--primary", path, "--secondary", path, "--password", pw)
        why = _unsound(r, str(path.relative_to(root)), findings=True)
        if why is not None:
            found.append(why)
    assert not found, "\n".join(found)
