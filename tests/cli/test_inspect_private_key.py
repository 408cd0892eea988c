"""Walkthrough: `ccapki inspect KEYFILE` refused a private key ("holds only a private key, no
certificate"). It shows what the key is without printing it: type and size, the key SHA-256
(the SPKI fingerprint ccapki uses everywhere) and what of the store is on that key (an
identity's certificate, a CA, a pending CSR), or that nothing is. An encrypted key takes
--password, or asks in a terminal; a wrong password is error + hint. No byte of the key
reaches stdout, stderr or a log.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import Store
from kit.cli import Cli, Result, deployment, error_with_hint, ok, standalone, write
from kit.pgmode import BACKEND, store_url
from kit.terminal import read_terminal

PASSWORD = "tr0ub4dor&3-key"
E = serialization.Encoding
F = serialization.PrivateFormat


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _secrets(key: CertificateIssuerPrivateKeyTypes, *files: bytes) -> list[str]:
    """Strings that would show some of ``key`` leaked: its private numbers (hex and
    decimal), each base64 line of its PEM forms and of the files given, runs of its DER
    in hex and base64."""
    out: list[str] = ["PRIVATE KEY"]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = [key.private_numbers().private_value]
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        n = key.private_numbers()
        numbers = [n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp]
    for v in numbers:
        out += [str(v)[:24], format(v, "x")[:24], format(v, "X")[:24]]
    ders = [key.private_bytes(E.DER, fmt, serialization.NoEncryption()) for fmt in _FORMATS]
    for der in ders:
        for i in range(0, len(der) - 16, 16):
            out += [der[i : i + 16].hex(), der[i : i + 16].hex().upper()]
            out.append(base64.b64encode(der[i : i + 18]).decode())
    for data in files:
        out += [ln.strip() for ln in data.decode(errors="replace").splitlines() if len(ln) > 20]
    return out


_FORMATS = (F.PKCS8, F.TraditionalOpenSSL)


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


# key file forms: name -> (file name, encoding, format, encrypted, what inspect says it is)
FORMS = {
    "pkcs8-pem": ("k.pem", E.PEM, F.PKCS8, False, "PKCS#8 private key"),
    "traditional-pem": ("k.key", E.PEM, F.TraditionalOpenSSL, False, None),
    "pkcs8-der": ("k.der", E.DER, F.PKCS8, False, "DER private key"),
    "traditional-der": ("k.der", E.DER, F.TraditionalOpenSSL, False, "DER private key"),
    "encrypted-pkcs8-pem": ("k.pem", E.PEM, F.PKCS8, True, "encrypted PKCS#8 private key"),
    "encrypted-pkcs8-der": ("k.der", E.DER, F.PKCS8, True, "DER private key"),
    "encrypted-traditional-pem": (
        "k.key",
        E.PEM,
        F.TraditionalOpenSSL,
        True,
        "encrypted traditional OpenSSL private key",
    ),
}


def _key_file(
    tmp_path: Path, key: CertificateIssuerPrivateKeyTypes, form: str, name: str | None = None
) -> Path:
    fname, enc, fmt, encrypted, _ = FORMS[form]
    # traditional PEM: OpenSSL's Proc-Type/DEK-Info header (AES-256-CBC)
    how: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(PASSWORD.encode())
        if encrypted
        else serialization.NoEncryption()
    )
    path = write(tmp_path / (name or fname), key.private_bytes(enc, fmt, how))
    path.chmod(0o600)
    return path


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the run, at every level."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def _no_leak(r: Result, key: CertificateIssuerPrivateKeyTypes, path: Path, logs: str) -> None:
    secrets = _secrets(key, path.read_bytes())
    assert not _leaks(r.out + r.err, secrets), r.both
    assert not _leaks(logs, secrets), "a log record holds key material"


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("algo", ["ec", "rsa"])
def test_every_key_form_shows_what_the_key_is_never_the_key(
    cli: Cli,
    tmp_path: Path,
    logs: pytest.LogCaptureFixture,
    ec_key: ec.EllipticCurvePrivateKey,
    rsa_key: rsa.RSAPrivateKey,
    form: str,
    algo: str,
) -> None:
    key: CertificateIssuerPrivateKeyTypes = ec_key if algo == "ec" else rsa_key
    path = _key_file(tmp_path, key, form)
    password = ["--password", PASSWORD] if FORMS[form][3] else []
    spki = public_key_fingerprint(key)
    described = FORMS[form][4] or (
        "SEC1 EC private key" if algo == "ec" else "PKCS#1 RSA private key"
    )

    text = ok(cli("inspect", path, *password))
    assert "private key (not shown)" in text.out
    assert ("ECDSA P-384 (384 bits)" if algo == "ec" else "RSA (2048 bits)") in text.out
    assert spki in text.out
    assert described in text.out
    assert "not looked up: no ccapki store" in text.out  # no store: nothing to match

    js = ok(cli("inspect", path, "--json", *password)).json()
    assert js["kind"] == "private-key"
    assert js["spki_sha256"] == spki
    assert js["key_type"] == ("ecdsa-p384" if algo == "ec" else "rsa-2048")
    assert js["key_bits"] == (384 if algo == "ec" else 2048)
    assert js["format"] == described
    assert js["encrypted"] is FORMS[form][3]
    assert js["matches"] is None

    for r in cli.seen:
        _no_leak(r, key, path, logs.text)


@pytest.fixture
def applied(cli: Cli, keyfile_store: Path, tmp_path: Path) -> Path:
    """A store holding deployment ``test``: cas1 issued by the internal CA, cas2
    third-party with a CSR made (its key sealed, pending)."""
    text = deployment(
        cas=[
            standalone("cas1", "10.1.0.1"),
            standalone("cas2", "10.2.0.1", source="third-party"),
        ]
    )
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    ok(cli("csr", "cas2", "--out", tmp_path / "cas2.csr"))
    return keyfile_store


def _stored_key(home: Path, which: str) -> CertificateIssuerPrivateKeyTypes:
    """A key the store holds, unsealed by the test through the store's own API: an
    identity's (``cas1``), the pending CSR's (``cas2``), or the internal root's."""
    with Store.open(home) as store:
        if which == "root":
            spki = next(c.spki for c in store.cas.list() if c.kind == "internal-root")
        elif which == "cas2":
            spki = next(c.spki for c in store.csrs.list("cas2"))
        else:
            ident = store.identities.get(which)
            assert ident is not None
            spki = ident.spki
        return store.keys.private_key(spki)


@pytest.mark.parametrize(
    ("which", "says", "match"),
    [
        ("cas1", "certificate of cas1 v1 (current)", ("certificate", "cas1", "v1 (current)")),
        ("cas2", "pending CSR of cas2, made ", ("pending-csr", "cas2", None)),
        ("root", "(internal-root)", ("ca", None, "internal-root")),
    ],
)
def test_the_key_is_matched_to_what_the_store_holds_on_it(
    cli: Cli,
    applied: Path,
    tmp_path: Path,
    logs: pytest.LogCaptureFixture,
    which: str,
    says: str,
    match: tuple[str, str | None, str | None],
) -> None:
    key = _stored_key(applied, which)
    for form in ("traditional-pem", "encrypted-pkcs8-pem"):
        path = _key_file(tmp_path, key, form, name=f"{which}-{form}.key")
        r = ok(cli("inspect", path, "--password", PASSWORD))
        assert says in r.out
        assert "held, sealed" in r.out
        js = ok(cli("inspect", path, "--password", PASSWORD, "--json")).json()
        assert js["spki_sha256"] == public_key_fingerprint(key)
        assert js["held"] == {"cas1": "active", "cas2": "pending", "root": "ca"}[which]
        kinds = [(m["kind"], m["name"], m["detail"]) for m in js["matches"]]
        kind, name, detail = match
        assert any(
            k == kind and (name is None or n == name) and (detail is None or d == detail)
            for k, n, d in kinds
        ), kinds
        for res in cli.seen[-2:]:
            _no_leak(res, key, path, logs.text)


def test_a_key_of_nothing_in_the_store_says_so(
    cli: Cli, applied: Path, tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = _key_file(tmp_path, ec_key, "pkcs8-pem")
    r = ok(cli("inspect", path))
    assert "nothing in the store" in r.out
    assert "held, sealed" not in r.out
    js = ok(cli("inspect", path, "--json")).json()
    assert js["matches"] == []
    assert js["held"] is None


def test_an_encrypted_key_without_or_with_a_wrong_password(
    cli: Cli, tmp_path: Path, logs: pytest.LogCaptureFixture, rsa_key: rsa.RSAPrivateKey
) -> None:
    for form in ("encrypted-pkcs8-pem", "encrypted-traditional-pem"):
        path = _key_file(tmp_path, rsa_key, form)
        none = error_with_hint(cli("inspect", path))
        assert "no password was given" in none.err
        assert "--password" in none.err
        wrong = error_with_hint(cli("inspect", path, "--password", "not-the-password"))
        assert "wrong password" in wrong.err
    for r in cli.seen:
        _no_leak(r, rsa_key, path, logs.text)


def test_format_pem_of_a_key_is_refused(
    cli: Cli, tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = _key_file(tmp_path, ec_key, "pkcs8-pem")
    r = error_with_hint(cli("inspect", path, "--format", "pem"))
    assert "never prints a private key" in r.err
    assert r.out == ""


# ---------------------------------------------------------------------------- a terminal

pty = pytest.importorskip("pty")


def test_an_encrypted_key_asks_its_password_in_a_terminal(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = _key_file(tmp_path, ec_key, "encrypted-pkcs8-pem")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    home = tmp_path / "no-store"
    if BACKEND == "postgresql":
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    env["COLUMNS"] = "200"
    pid, fd = pty.fork()
    if pid == 0:  # the child: ccapki on the terminal
        os.execve(
            sys.executable,
            [sys.executable, "-m", "ccapki", "--home", str(home), "inspect", str(path)],
            env,
        )
    try:
        shown = read_terminal(fd, b"Password of")
        assert b"Password of" in shown, shown
        time.sleep(0.2)  # let the prompt turn the echo off
        os.write(fd, PASSWORD.encode() + b"\n")
        shown += read_terminal(fd, None)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = shown.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert public_key_fingerprint(ec_key) in text
    assert PASSWORD not in text  # the prompt does not echo it
    assert not _leaks(text, _secrets(ec_key, path.read_bytes()))
