"""export-roots for Debian/Ubuntu: one PEM file per root (`ccapki-root-N.crt`), as
`update-ca-certificates` needs. INSTALL.txt copied the several-root `ccapki-roots.pem` as one
`.crt`: its `openssl rehash` skips a file holding more than one certificate, so programs
that look roots up in /etc/ssl/certs never found them (walkthrough Z)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from kit.cli import Cli, deployment, ok, standalone, write
from kit.tools import require_tool


def _rehashed(openssl: str, folder: Path) -> set[str]:
    """The hash links `openssl rehash` makes in ``folder`` (what update-ca-certificates
    runs on /etc/ssl/certs)."""
    subprocess.run([openssl, "rehash", str(folder)], check=True, capture_output=True)
    return {p.name for p in folder.iterdir() if p.is_symlink() and p.name[-2:-1] == "."}


def test_each_root_is_its_own_crt_file_and_install_txt_copies_them(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    cas = [standalone(f"cas{i}", f"10.8.{i}.1") for i in (1, 2)]
    d = write(tmp_path / "s.toml", deployment(source="self-signed", cas=cas))
    ok(cli("apply", str(d)))
    roots = tmp_path / "roots"
    ok(cli("export-roots", "--out", str(roots)))
    crts = sorted(roots.glob("ccapki-root-*.crt"))
    assert [p.name for p in crts] == [f"ccapki-root-{i}.crt" for i in (1, 2, 3)]
    for i, p in enumerate(crts, 1):
        (one,) = x509.load_pem_x509_certificates(p.read_bytes())
        assert one == x509.load_der_x509_certificate((roots / f"ccapki-root-{i}.cer").read_bytes())
    text = (roots / "INSTALL.txt").read_text()
    assert "sudo cp ccapki-root-*.crt /usr/local/share/ca-certificates/" in text
    assert "ccapki-roots.pem /usr/local/share/ca-certificates" not in text
    # what update-ca-certificates does with the files the steps copy: every root linked
    store = tmp_path / "ca-certificates"
    store.mkdir()
    for p in crts:
        (store / p.name).write_bytes(p.read_bytes())
    assert len(_rehashed(openssl, store)) == 3
    # the bundle the steps copied before: skipped
    old = tmp_path / "old"
    old.mkdir()
    (old / "ccapki-root.crt").write_bytes((roots / "ccapki-roots.pem").read_bytes())
    assert _rehashed(openssl, old) == set()


def test_one_root_one_crt(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    d = write(tmp_path / "i.toml", deployment(cas=[standalone("cas1", "10.8.1.1")]))
    ok(cli("apply", str(d)))
    roots = tmp_path / "roots"
    ok(cli("export-roots", "--out", str(roots)))
    assert [p.name for p in roots.glob("*.crt")] == ["ccapki-root-1.crt"]
    assert (
        "sudo cp ccapki-root-1.crt /usr/local/share/ca-certificates/"
        in (roots / "INSTALL.txt").read_text()
    )
