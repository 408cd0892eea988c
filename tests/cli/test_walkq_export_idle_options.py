"""Walkthrough Q: ``export`` refuses an option its format does not use (walkthrough B:
``--legacy``, ``--encrypt-key``, ``--password``), as its --help's EXIT CODES say ("an
option the format does not use ... nothing written"); ``--key-format pkcs1`` and
``--include-root`` with a format holding no key, or no chain, were still ignored without a
word: ``export cas --format cert --key-format pkcs1`` wrote the certificate, exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import FAQ, Cli, error_with_hint, ok


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (
            ("--format", "cert", "--key-format", "pkcs1"),
            "--key-format pkcs1 has no effect on --format cert (it is for a PEM key "
            "(--format pem-bundle or key)); nothing was written",
        ),
        (
            ("--format", "pkcs12", "--key-format", "pkcs1", "--password", "pw-12345678"),
            "--key-format pkcs1 has no effect on --format pkcs12 (it is for a PEM key "
            "(--format pem-bundle or key)); nothing was written",
        ),
        (
            ("--format", "cert", "--include-root"),
            "--include-root has no effect on --format cert (it is for a file holding the "
            "chain (--format pem-bundle, chain, fullchain or pkcs12)); nothing was written",
        ),
        (
            ("--format", "key", "--include-root"),
            "--include-root has no effect on --format key (it is for a file holding the "
            "chain (--format pem-bundle, chain, fullchain or pkcs12)); nothing was written",
        ),
    ],
)
def test_idle_option_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path, args: tuple[str, ...], first: str
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "x.out"
    r = error_with_hint(cli("export", "cas-dorm", *args, "--out", out))
    assert r.err.splitlines()[0] == f"error: {first}"
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--format", "key", "--key-format", "pkcs1"),
        ("--format", "pem-bundle", "--key-format", "pkcs1"),
        ("--format", "fullchain", "--include-root"),
        ("--format", "cert", "--no-root"),
        ("--format", "cert", "--key-format", "pkcs8"),
    ],
)
def test_used_options_still_work(
    cli: Cli, keyfile_store: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "x.out"
    ok(cli("export", "cas-dorm", *args, "--out", out))
    assert out.stat().st_size > 0
