"""Walkthrough 15, the command line:

- ``inspect FILE`` never needs --deployment, however many deployments the store holds (the
  "signed by" of every deployment's CAs), and its "signed by" row does not repeat its label;
- ``inspect x.csr`` shows a CSR: subject, SANs, key, signature check (text, JSON, PEM);
- ``--home FILE`` (a regular file) says so, with a hint to point --home at a folder, for
  every command (never "run ccapki init first", which then fails);
- ``users add`` without a terminal and without --password-stdin / --no-password refuses
  (never a password-less admin by accident); ``users list`` has a header row;
- counts are pluralised (``1 deployment file``, ``1 CSR``, ``1 key``);
- standard output closed early (a real pipe) ends every command silently with 141;
- every command's --help fits 80 columns: no example line cut mid-word by the terminal.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kit.cli import (
    FAQ,
    CliRunner,
    command_paths,
    deployment,
    error_with_hint,
    ha_pair,
    ok,
    standalone,
    write,
)


def _two_deployments(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli("apply", FAQ))
    other = deployment(name="annex", cam=ha_pair("cam", "10.77.0"))
    ok(cli("apply", write(tmp_path / "annex.toml", other)))


def test_inspecting_a_file_needs_no_deployment(
    cli: CliRunner, keyfile_store: Path, tmp_path: Path
) -> None:
    _two_deployments(cli, tmp_path)
    cert = tmp_path / "cas-dorm.pem"
    ok(cli("--deployment", "faq-campus", "export", "cas-dorm", "--format", "cert", "--out", cert))
    r = ok(cli("inspect", cert))
    row = next(x for x in r.out.splitlines() if "signed by" in x)
    assert "internal CA" in row, row  # found among the store's CAs, across deployments
    assert row.count("signed by") == 1, row  # the label, not the label again in the value
    js = ok(cli("inspect", cert, "--format", "json")).json()
    assert js["signed_by_kind"] == "internal"
    # an identity name still needs the deployment named (it is the store's, not a file's)
    error_with_hint(cli("inspect", "cas-dorm"))


def test_inspect_shows_a_csr(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    text = deployment(cas=[standalone("cas-tp", "10.6.0.1", source="third-party")])
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    path = tmp_path / "csr" / "cas-tp.csr"
    r = ok(cli("inspect", path))
    assert "certificate signing request (CSR)" in r.out
    assert "CN=cas-tp.example.org" in r.out
    assert "cas-tp.example.org, 10.6.0.1" in r.out  # the SANs the CA will be asked for
    assert "ECDSA P-256 (256 bits)" in r.out
    assert "verifies (made with the key it carries)" in r.out
    js = ok(cli("inspect", path, "--format", "json")).json()
    assert js["kind"] == "csr"
    assert js["signature_valid"] is True
    assert js["san_dns"] == ["cas-tp.example.org"]
    assert js["san_ip"] == ["10.6.0.1"]
    csr = x509.load_pem_x509_csr(path.read_bytes())
    pem_out = ok(cli("inspect", path, "--format", "pem")).out.encode()
    assert pem_out == csr.public_bytes(serialization.Encoding.PEM)


@pytest.mark.sqlite_only  # the SQLite store's folder (PostgreSQL: the store is the server's)
@pytest.mark.parametrize(
    "args", [("status",), ("trust", "check"), ("users", "list"), ("inspect", "cam"), ("doctor",)]
)
def test_a_home_that_is_a_file_says_so(
    cli: CliRunner, tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = write(tmp_path / "notafolder", "x")
    r = error_with_hint(cli(*args, home_dir=home))
    first, hint = r.err.splitlines()[:2]
    assert first == f"error: the store folder {home} is a file, not a folder", first
    assert "point --home" in hint, hint


def test_users_add_without_a_terminal_needs_a_password_or_no_password(
    cli: CliRunner, keyfile_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    r = error_with_hint(cli("users", "add", "ann", "--role", "admin"))
    assert "no terminal" in r.err
    assert "no user was added" in r.err
    assert "--password-stdin" in r.err
    assert "--no-password" in r.err
    assert ok(cli("users", "list", "--json")).json() == []
    both = cli("users", "add", "ann", "--role", "admin", "--no-password", "--password-stdin")
    assert "contradict" in error_with_hint(both).err
    ok(cli("users", "add", "ci", "--role", "viewer", "--no-password"))
    lines = ok(cli("users", "list")).out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "STATE"], lines
    assert lines[1].split() == ["ci", "viewer", "active"], lines


def test_counts_are_pluralised(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> None:
    ok(cli("apply", FAQ))
    pw = {"CCAPKI_BACKUP_PASSPHRASE": "a backup passphrase"}
    out = tmp_path / "b.backup"
    ok(cli("backup", "create", "--out", out, env=pw))
    r = ok(cli("backup", "verify", out, env=pw))
    assert "audit rows, 1 deployment file\n" in r.out, r.out
    assert "1 deployment files" not in r.out, r.out
    assert "0 CSRs" in r.out, r.out
    assert "version(s)" not in r.out, r.out
    assert "cas-dorm: 1 version," in r.out, r.out


# ---------------------------------------------------------------------------- 141


def _closed_pipe_run(*args: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    """``ccapki ARGS`` with standard output a pipe whose reader has gone (as after
    ``| head -1``): the read end is closed before ccapki writes anything."""
    exe = shutil.which("ccapki", path=str(Path(sys.executable).parent))
    assert exe is not None
    read, write_end = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [exe, "--home", str(home), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("plan", str(FAQ)),  # a Rich table (once exit 1, "findings")
        ("plan", str(FAQ), "--json"),
        ("--help",),
        ("trust", "--help"),
        ("users", "list"),
    ],
)
def test_standard_output_closed_early_exits_141_silently(
    keyfile_store: Path, args: tuple[str, ...]
) -> None:
    r = _closed_pipe_run(*args, home=keyfile_store)
    assert r.returncode == 141, (r.returncode, r.stderr)
    assert r.stderr == b""


def test_the_main_help_documents_141(cli: CliRunner) -> None:
    codes = ok(cli("--help", home_dir=None)).out.split("EXIT CODES", 1)[1]
    assert "141 output closed early" in codes


# ---------------------------------------------------------------------------- help at 80


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "ccapki")
def test_help_examples_fit_80_columns(cli: CliRunner, path: tuple[str, ...]) -> None:
    r = ok(cli(*path, "--help", home_dir=None, env={"COLUMNS": "80"}))
    after = r.out.split("\n  EXAMPLES\n", 1)[1]
    long = [x for x in after.splitlines() if len(x) > 80]
    assert not long, long  # the terminal would cut these mid-word
    examples = after.split("\n  EXIT CODES\n")[0]
    for line in examples.splitlines():
        # a command broken across lines ends with " \" (still valid shell)
        assert not line.rstrip().endswith("\\") or line.rstrip().endswith(" \\"), line


def test_check_ha_examples_are_not_garbled(cli: CliRunner) -> None:
    r = ok(cli("check-ha", "--help", home_dir=None, env={"COLUMNS": "80"}))
    examples = r.out.split("\n  EXAMPLES\n", 1)[1].split("\n  EXIT CODES\n")[0]
    assert "...       --secondary-password" not in examples
    lines = examples.splitlines()
    cont = next(i for i, x in enumerate(lines) if x.rstrip().endswith(" \\"))
    assert lines[cont + 1].lstrip().startswith("--password ... --secondary-password ..."), lines


def test_fit_help_line_keeps_words_and_columns() -> None:
    from ccapki.cli.app import fit_help_line

    line = (
        "  ccapki export cas-dorm --format pkcs12 --out a.p12    the bundle for a CA that wants it"
    )
    out = fit_help_line(line, 60)
    assert all(len(x) <= 60 for x in out), out
    assert out[0].startswith("  ccapki export cas-dorm --format pkcs12 --out a.p12")
    assert " ".join(" ".join(out).split()) == " ".join(line.split())  # no word lost or cut
    cmd = "  ccapki ca set-token 'Campus Root CA' --pkcs11-uri 'pkcs11:token=new;object=root'"
    out = fit_help_line(cmd, 50)
    assert out[0].endswith(" \\"), out
    assert "'Campus Root CA'" in out[0], out  # a quoted argument is kept whole
    assert json.dumps(out)  # plain strings
