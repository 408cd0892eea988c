"""Audit B, bad input of every kind fed to every command, as a hostile but honest new
administrator would: each refusal is one ``error:`` line and a ``hint:`` naming the fix,
exit 2, no traceback, nothing written. What the audit found:

- a path longer than the system takes (ENAMETOOLONG: a pasted blob, a runaway ``$(...)``)
  was an internal error (exit 70) in import, inspect, export, export-roots, csr, backup
  and ``--home``;
- ``import CERT --key FILE`` with no private key in FILE (the CSR, a CRL, the certificate
  again) read FILE as one more input and went on: the key the user meant was never given;
- an argument given empty (``"$VAR"`` with VAR unset) acted on a default instead: ``plan ""``
  planned the stored deployment, ``check-ha PAIR --primary "" --secondary F`` checked the
  store's identity and said "fit for HA", ``trust plan --rotate ""`` printed the plain plan,
  ``export-roots --out ""`` and ``csr --out ""`` wrote into the current folder;
  ``import ""`` answered with the Python API's words, ``inspect ""`` named the folder ".";
- ``export --encrypt-key`` with a password over 1023 bytes was an internal error (OpenSSL's
  bound), and a NUL in an export password made a file no tool opens;
- ``keys retire a`` retired the one key whose fingerprint starts with "a";
- ``--wait nan`` / ``inf`` and ``lab up --interval 0`` / ``-1`` / ``nan`` were taken;
- ``users add``/``set-password --password-stdin`` with a line that is not UTF-8 was an
  internal error, and a password over the login form's 1024 characters made a user who
  could never log in;
- ``export-roots --out LINK`` (a broken symbolic link, or a loop) said "cannot write (File
  exists)", or named the folder "." instead of LINK.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import FAQ, THIRD_PARTY_TP, Cli, db_bytes, error_with_hint, ok, write

TP = THIRD_PARTY_TP

LONG = "x" * 300  # over NAME_MAX (255)


def test_a_name_too_long_is_bad_input_not_an_internal_error(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("apply", FAQ))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CCAPKI_BACKUP_PASSPHRASE", "a backup passphrase")
    before = db_bytes(keyfile_store)
    for args in (
        ("import", LONG),
        ("inspect", LONG),
        ("export", "cam", "--out", LONG),
        ("export", "cam", "--out", f"{LONG}/cam.pem"),
        ("export-roots", "--out", LONG),
        ("csr", "cam", "--out", LONG),
        ("backup", "create", "--out", LONG),
        ("backup", "verify", LONG),
    ):
        r = error_with_hint(cli(*args))
        assert ": the name is too long" in r.err.splitlines()[0], (args, r.err)
    assert db_bytes(keyfile_store) == before
    assert list(work.iterdir()) == []  # nothing written


@pytest.mark.sqlite_only  # the store's file is in the home folder (on PostgreSQL: none)
def test_a_home_too_long_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    r = error_with_hint(cli("status", home_dir=tmp_path / LONG))
    assert "the name is too long" in r.err, r.err


def _third_party(cli: Cli, tmp_path: Path, outside: OutsideCA) -> tuple[Path, Path]:
    """The tp deployment applied, cas-tp's CSR made and answered: (CSR, certificate)."""
    ok(cli("apply", write(tmp_path / "tp.toml", TP)))
    req = tmp_path / "cas-tp.csr"
    ok(cli("csr", "cas-tp", "--out", req))
    cert = outside.sign_csr(x509.load_pem_x509_csr(req.read_bytes()))
    chain = pem(cert) + pem(outside.inter) + pem(outside.root)
    return req, write(tmp_path / "cas-tp.pem", chain)


@pytest.mark.parametrize(
    ("key_file", "words"),
    [
        ("csr", "is a certificate signing request (CSR), not a private key"),
        ("cert", "holds 3 certificates but no private key"),
        ("root", "holds 1 certificate but no private key"),
    ],
)
def test_a_key_option_naming_no_key_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA, key_file: str, words: str
) -> None:
    req, cert = _third_party(cli, tmp_path, outside)
    given = {"csr": req, "cert": cert, "root": write(tmp_path / "root.pem", pem(outside.root))}
    before = db_bytes(keyfile_store)
    r = error_with_hint(cli("import", cert, "--key", given[key_file]))
    assert r.err.startswith(f"error: {given[key_file]}: {words}"), r.err
    assert db_bytes(keyfile_store) == before
    ok(cli("import", cert))  # the pending key of its CSR: matched without --key


def _empty_cases(tmp_path: Path) -> list[tuple[tuple[Any, ...], str]]:
    return [
        (("plan", ""), "error: the deployment file's name is empty"),
        (("apply", ""), "error: the deployment file's name is empty"),
        (("csr", "cas-clinic", "--file", ""), "error: a file name given is empty"),
        (("trust", "add", "cas-clinic", ""), "error: a file name given is empty"),
        (
            ("check-ha", "cas-dorm", "--primary", "", "--secondary", tmp_path / "b.pem"),
            "error: --primary is empty",
        ),
        (
            ("check-ha", "cas-dorm", "--primary", tmp_path / "a.pem", "--secondary", ""),
            "error: --secondary is empty",
        ),
        (("trust", "plan", "--rotate", ""), "error: --rotate is empty"),
        (("import", ""), "error: a file name is empty"),
        (("import", tmp_path / "a.pem", "--key", ""), "error: --key is empty"),
        (("inspect", ""), "error: TARGET is empty"),
        (("export", "cam", "--out", ""), "error: --out is empty"),
        (("export-roots", "--out", ""), "error: --out is empty"),
        (("csr", "cas-clinic", "--out", ""), "error: --out is empty"),
        (("backup", "create", "--out", ""), "error: --out is empty"),
        (("backup", "appliance", "cas-dorm", "--out", ""), "error: --out is empty"),
    ]


def test_an_empty_argument_is_refused_not_taken_for_the_default(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = FAQ.read_text().replace(
        'name = "cas-clinic"', 'name = "cas-clinic"\nsource = "third-party"'
    )
    ok(cli("apply", write(tmp_path / "faq.toml", text)))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where an empty --out wrote
    monkeypatch.setenv("CCAPKI_BACKUP_PASSPHRASE", "a backup passphrase")
    monkeypatch.setenv("CCAPKI_EXPORT_PASSWORD", "an export password")
    before = db_bytes(keyfile_store)
    for args, first in _empty_cases(tmp_path):
        r = error_with_hint(cli(*args))
        assert r.err.startswith(first + "\n") or r.err.startswith(first + ":"), (args, r.err)
        assert len(r.err.splitlines()) == 2, (args, r.err)
    assert db_bytes(keyfile_store) == before
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "password", "words"),
    [
        ("pem-bundle", "x" * 1024, "is too long (1024 bytes): OpenSSL takes at most 1023"),
        ("key", "é" * 600, "is too long (1200 bytes)"),
        ("pkcs12", "x" * 1024, "is too long (1024 bytes)"),
        ("pkcs12", "pass\0word123", "holds a NUL character"),
        ("pem-bundle", "pass\0word123", "holds a NUL character"),
    ],
)
def test_an_export_password_no_tool_takes_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path, fmt: str, password: str, words: str
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "cam.out"
    enc = () if fmt == "pkcs12" else ("--encrypt-key",)
    r = error_with_hint(
        cli("export", "cam", "--format", fmt, *enc, "--out", out, "--password", password)
    )
    assert words in r.err.splitlines()[0], r.err
    assert not out.exists()


@pytest.mark.parametrize("prefix", ["first-char", "cas-tp", "xyz1"])
def test_keys_retire_takes_four_hex_digits_at_least(
    cli: Cli, keyfile_store: Path, tmp_path: Path, prefix: str
) -> None:
    ok(cli("apply", write(tmp_path / "tp.toml", TP)))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "cas-tp.csr"))
    (key,) = [k for k in ok(cli("keys", "list", "--json")).json() if k["state"] == "pending"]
    given = key["fingerprint"][0] if prefix == "first-char" else prefix
    r = error_with_hint(cli("keys", "retire", given))
    assert f"error: {given!r} is not the start of a key's SHA-256 fingerprint" in r.err, r.err
    keys = ok(cli("keys", "list", "--json")).json()
    (still,) = [k for k in keys if k["fingerprint"] == key["fingerprint"]]
    assert still["state"] == "pending"


@pytest.mark.parametrize(
    "args",
    [
        ("--wait", "nan", "status"),
        ("--wait", "inf", "status"),
        ("lab", "up", "--interval", "0"),
        ("lab", "up", "--interval", "-1"),
        ("lab", "up", "--interval", "nan"),
    ],
)
def test_a_wait_or_interval_of_no_length_is_refused(cli: Cli, args: tuple) -> None:
    r = error_with_hint(cli(*args))
    assert "is not in the range" in r.err, r.err


@pytest.mark.parametrize(
    ("command", "line", "words"),
    [
        ("add", b"\xff\xfeabcdefgh\n", "the password on standard input is not UTF-8 text"),
        ("set-password", b"\xff\xfeabcdefgh\n", "the password on standard input is not UTF-8"),
        ("add", b"x" * 1025 + b"\n", "the password is too long (1025 characters)"),
        ("set-password", b"x" * 1025 + b"\n", "the password is too long (1025 characters)"),
    ],
)
def test_a_password_no_login_takes_is_refused(
    cli: Cli,
    keyfile_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    line: bytes,
    words: str,
) -> None:
    ok(cli("users", "add", "ann", "--role", "admin", "--no-password"))
    before = db_bytes(keyfile_store)
    # a process's standard input keeps a byte that is not UTF-8 as a lone surrogate
    stdin = io.TextIOWrapper(io.BytesIO(line), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    args = ("add", "bob", "--role", "viewer") if command == "add" else ("set-password", "ann")
    r = error_with_hint(cli("users", *args, "--password-stdin"))
    assert r.err.startswith(f"error: {words}"), r.err
    assert db_bytes(keyfile_store) == before


@pytest.mark.parametrize("link", ["broken", "loop"])
def test_an_out_folder_that_is_a_link_to_nothing_is_named(
    cli: Cli, tmp_path: Path, link: str
) -> None:
    out = tmp_path / "roots"
    out.symlink_to(tmp_path / "gone" if link == "broken" else out)
    r = error_with_hint(cli("export-roots", "--out", out))
    assert r.err.startswith(
        f"error: {out}: cannot write ({out} is a symbolic link that leads to no folder"
    ), r.err
