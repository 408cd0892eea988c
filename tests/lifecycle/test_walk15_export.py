"""Walkthrough 15, exporting: a file that holds the private key is encrypted with at least 8
characters (PKCS#12, ``--encrypt-key``, the recovery kit's PKCS#12), as the store's
passphrase, else ``error:`` + ``hint:`` and nothing written; a key written to standard
output says so in words (standard output has no file mode).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import FAQ, CliRunner, error_with_hint, ok


@pytest.fixture
def applied(cli: CliRunner, keyfile_store: Path) -> Path:
    ok(cli("apply", FAQ))
    return keyfile_store


@pytest.mark.parametrize(
    "args",
    [
        ("--format", "pkcs12", "--password", "abc"),
        ("--format", "pkcs12", "--password", "seven77"),
        ("--for-peer", "--password", "abc"),
        ("--format", "key", "--encrypt-key", "--password", "abc"),
    ],
)
def test_a_short_export_password_is_refused(
    cli: CliRunner, applied: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    out = tmp_path / "exports" / "out.file"
    out.parent.mkdir()
    r = error_with_hint(cli("export", "cas-dorm", "--out", out, *args))
    first, hint = r.err.splitlines()[:2]
    assert "is too short" in first, first
    assert "nothing was written" in first, first
    assert "at least 8 characters" in hint, hint
    assert list(out.parent.iterdir()) == []  # no file, no temporary file


def test_an_export_password_of_8_characters_is_taken(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ok.p12"
    ok(cli("export", "cas-dorm", "--format", "pkcs12", "--password", "eight888", "--out", out))
    assert out.stat().st_size > 0


def test_the_recovery_kit_refuses_a_short_password(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    out = tmp_path / "kit"
    r = error_with_hint(
        cli("backup", "appliance", "cas-dorm", "--out", out, env={"CCAPKI_EXPORT_PASSWORD": "kit"})
    )
    assert "too short" in r.err
    assert not out.exists()


def _ccapki(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """ccapki as a process (a private key on its standard output stays out of the test's
    captured output)."""
    exe = shutil.which("ccapki", path=str(Path(sys.executable).parent))
    assert exe is not None
    return subprocess.run(
        [exe, "--home", str(home), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_key_on_standard_output_says_so_in_words(applied: Path) -> None:
    r = _ccapki(applied, "export", "cas-dorm", "--format", "key", "--out", "-", "--force-stdout")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN PRIVATE KEY-----")
    assert r.stderr.startswith("wrote the private key to standard output: cas-dorm v1 as key")
    assert "<stdout>" not in r.stderr
    assert "0600" not in r.stderr
    r = _ccapki(
        applied, "export", "cas-dorm", "--format", "pem-bundle", "--out", "-", "--force-stdout"
    )
    assert r.stderr.startswith("wrote the pem-bundle with the private key to standard output")
    r = _ccapki(applied, "export", "cas-dorm", "--format", "cert", "--out", "-")
    assert r.stderr.startswith("wrote the cert to standard output: cas-dorm v1"), r.stderr
