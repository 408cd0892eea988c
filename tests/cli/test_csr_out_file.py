"""`ccapki csr NAME --out req.csr` writes that file (walkthrough: it made a folder named
req.csr and put NAME.csr in it); several CSRs still need a folder, and a folder whose name
ends .csr stays a folder."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.cli import Cli, ok, standalone, write
from kit.cli import deployment as make_deployment

DEP = make_deployment(
    name="csrfile",
    cas=[
        standalone("cas-a", "10.6.0.1", source="third-party"),
        standalone("cas-b", "10.6.0.2", source="third-party"),
    ],
)


def _applied(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", DEP)))


def test_out_naming_a_csr_file_writes_that_file(cli: Cli, tmp_path: Path) -> None:
    _applied(cli, tmp_path)
    dest = tmp_path / "requests" / "cas-a-2026.csr"
    r = ok(cli("csr", "cas-a", "--out", dest))
    assert dest.is_file(), r.both
    csr = x509.load_pem_x509_csr(dest.read_bytes())
    assert "cas-a" in csr.subject.rfc4514_string()
    assert f"wrote {dest} for cas-a" in r.both


def test_several_csrs_into_one_file_are_refused_with_nothing_kept(cli: Cli, tmp_path: Path) -> None:
    _applied(cli, tmp_path)
    dest = tmp_path / "both.csr"
    r = cli("csr", "cas-a", "cas-b", "--out", dest)
    assert r.code == 2
    assert "error: --out" in r.err
    assert "hint: give a folder" in r.err
    assert not dest.exists()
    assert "pending" not in ok(cli("keys", "list")).out


def test_an_existing_folder_named_csr_stays_a_folder(cli: Cli, tmp_path: Path) -> None:
    _applied(cli, tmp_path)
    folder = tmp_path / "incoming.csr"
    folder.mkdir()
    ok(cli("csr", "cas-a", "cas-b", "--out", folder))
    assert sorted(p.name for p in folder.iterdir()) == ["cas-a.csr", "cas-b.csr"]
