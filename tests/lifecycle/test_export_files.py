"""Walkthrough items 4, 5, 9, 18 and 24: what ``export``, ``export-roots`` and ``csr`` write.

- One root default for every format: the root is left out (the FAQ: upload the certificate
  with its intermediates; the root belongs in the trust store), ``--include-root`` adds it,
  and ``export --help`` says so. A PKCS#12 follows the same rule.
- ``--format chain`` with nothing to write (signed directly by a root, or self-signed) is
  refused, never an empty file.
- ``export-roots`` on a store with no certificates says so.
- ``--for-peer`` with another ``--format`` is a conflict.
- ``--out`` into a folder that does not exist is refused (with ``mkdir -p``), except for the
  commands that write a folder of files; a device at ``--out`` is refused in one wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from kit.cli import CliRunner, Result, ok, standalone
from kit.tools import need

from .conftest import THIRD_PARTY_DEP, deployment, open_store


def _refused(r: Result, *words: str) -> None:
    assert r.code == 2, r.both
    assert r.err.startswith("error: "), r.err
    assert "\nhint: " in r.err, r.err
    assert "Traceback" not in r.both
    for w in words:
        assert w in r.err, r.err


@pytest.fixture
def mixed(deployed: Callable[[str], Path]) -> Path:
    """cas-int (internal: leaf -> CA -> root), cas-pf (signed by the Perfigo root directly),
    cas-self (true self-signed), and the HA pair cas-ha."""
    from kit.cli import ha_pair

    return deployed(
        deployment(
            cas=[
                standalone("cas-int", "10.1.0.1"),
                standalone("cas-pf", "10.2.0.1", source="perfigo"),
                standalone("cas-self", "10.3.0.1", source="self-signed"),
                ha_pair("cas-ha", "10.4.0"),
            ]
        )
    )


def _chain(home: Path, name: str) -> tuple[x509.Certificate, ...]:
    with open_store(home) as store:
        ident = store.identities.get(name)
    assert ident is not None
    return ident.chain


# ---------------------------------------------------------------------------- item 4 / 24


def test_pkcs12_leaves_the_root_out_unless_asked(
    cli: CliRunner, mixed: Path, home: Path, tmp_path: Path
) -> None:
    inter, root = _chain(home, "cas-int")
    for args, want in (
        ([], [inter]),
        (["--no-root"], [inter]),
        (["--include-root"], [inter, root]),
    ):
        out = tmp_path / f"p12-{''.join(args) or 'default'}.p12"
        ok(
            cli(
                "export",
                "cas-int",
                "--format",
                "pkcs12",
                "--password",
                "x-123456",
                "--out",
                out,
                *args,
            )
        )
        p12 = pkcs12.load_pkcs12(out.read_bytes(), b"x-123456")
        assert [c.certificate for c in p12.additional_certs] == want, args


@pytest.mark.parametrize("fmt", ["pem-bundle", "chain", "fullchain", "pkcs12"])
def test_every_format_has_the_same_root_default(
    cli: CliRunner, mixed: Path, home: Path, tmp_path: Path, fmt: str
) -> None:
    _, root = _chain(home, "cas-int")
    out = tmp_path / f"default.{fmt}"
    pw = ["--password", "x-123456"] if fmt == "pkcs12" else []
    ok(cli("export", "cas-int", "--format", fmt, "--out", out, *pw))
    data = out.read_bytes()
    if fmt == "pkcs12":
        certs = [c.certificate for c in pkcs12.load_pkcs12(data, b"x-123456").additional_certs]
    else:
        certs = x509.load_pem_x509_certificates(data)
    assert root not in certs


def test_export_help_shows_the_root_default(cli: CliRunner) -> None:
    out = " ".join(ok(cli("export", "--help")).out.split())
    assert "--include-root / --no-root" in out
    assert "[default: no-root]" in out


# ---------------------------------------------------------------------------- item 5


def test_chain_of_a_root_signed_identity_is_refused_not_empty(
    cli: CliRunner, mixed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ch.pem"
    r = cli("export", "cas-pf", "--format", "chain", "--out", out)
    _refused(r, "cas-pf", "signed directly by the root", "--include-root")
    assert not out.exists()
    ok(cli("export", "cas-pf", "--format", "chain", "--include-root", "--out", out))
    assert len(x509.load_pem_x509_certificates(out.read_bytes())) == 1


def test_chain_of_a_self_signed_identity_is_refused(
    cli: CliRunner, mixed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "self.pem"
    for extra in ([], ["--include-root"]):
        r = cli("export", "cas-self", "--format", "chain", "--out", out, *extra)
        _refused(r, "cas-self is self-signed", "--format cert")
        assert not out.exists()


# ---------------------------------------------------------------------------- item 9


def test_export_roots_with_no_certificates_says_so(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli("init"))
    out = tmp_path / "roots"
    r = cli("export-roots", "--out", out)
    _refused(r, "no roots yet", "ccapki apply")
    assert not out.exists()
    _refused(cli("export-roots", "--out", out, "--json"), "no roots yet")


def test_export_roots_creates_its_folder(cli: CliRunner, mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "roots"
    ok(cli("export-roots", "--out", out))
    assert (out / "ccapki-roots.pem").is_file()


# ---------------------------------------------------------------------------- item 18


@pytest.mark.parametrize("fmt", ["key", "pem-bundle", "cert", "der"])
def test_for_peer_with_another_format_is_a_conflict(
    cli: CliRunner, mixed: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "peer.out"
    r = cli(
        "export", "cas-ha", "--for-peer", "--format", fmt, "--password", "x-123456", "--out", out
    )
    _refused(r, "--for-peer", f"--format {fmt}")
    assert not out.exists()
    ok(
        cli(
            "export",
            "cas-ha",
            "--for-peer",
            "--format",
            "pkcs12",
            "--password",
            "x-123456",
            "--out",
            out,
        )
    )
    assert pkcs12.load_pkcs12(out.read_bytes(), b"x-123456").key is not None


# ---------------------------------------------------------------------------- item 24: --out


def test_out_into_a_missing_folder_is_refused(cli: CliRunner, mixed: Path, tmp_path: Path) -> None:
    for fmt in ("cert", "key"):
        out = tmp_path / "nodir" / "x.pem"
        r = cli("export", "cas-int", "--format", fmt, "--out", out)
        _refused(r, f"the folder {out.parent} does not exist", f"mkdir -p {out.parent}")
        assert not out.parent.exists()


def test_csr_out_may_create_its_folder(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(THIRD_PARTY_DEP)
    out = tmp_path / "new" / "csrs"
    ok(cli("csr", "cas-tp", "--out", out))
    assert (out / "cas-tp.csr").is_file()


#: the one wording of every refused --out: TARGET: cannot write (WHY); nothing was written
_NOT_A = re.compile(
    r"^error: \S+: cannot write \((?P<path>\S+) is "
    r"(?P<kind>a character device|a regular file|a folder), "
    r"not (?P<want>a folder|a regular file)\); nothing was written$"
)


def _one_wording(r: Result, path: str, kind: str, want: str) -> str:
    _refused(r)
    first, hint = r.err.splitlines()[:2]
    m = _NOT_A.match(first)
    assert m, first
    assert (m["path"], m["kind"], m["want"]) == (path, kind, want), first
    return hint


def test_a_device_or_file_at_out_is_refused_in_one_wording(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    if not Path("/dev/null").is_char_device():
        need("needs /dev/null")
    deployed(THIRD_PARTY_DEP)
    hints = {
        _one_wording(
            cli("csr", "cas-tp", "--out", "/dev/null"),
            "/dev/null",
            "a character device",
            "a folder",
        ),
        _one_wording(
            cli("export-roots", "--out", "/dev/null"), "/dev/null", "a character device", "a folder"
        ),
    }
    assert len(hints) == 1, hints  # the same hint for every command writing a folder
    _one_wording(
        cli("export", "cas-ha", "--format", "cert", "--out", "/dev/null"),
        "/dev/null",
        "a character device",
        "a regular file",
    )
    _one_wording(
        cli("export", "cas-ha", "--format", "cert", "--out", "/dev/null/x.pem"),
        "/dev/null",
        "a character device",
        "a folder",
    )
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_wording(cli("export-roots", "--out", afile), str(afile), "a regular file", "a folder")
    _one_wording(cli("csr", "cas-tp", "--out", afile), str(afile), "a regular file", "a folder")
    folder = tmp_path / "afolder"
    folder.mkdir()
    _one_wording(
        cli("export", "cas-ha", "--format", "cert", "--out", folder),
        str(folder),
        "a folder",
        "a regular file",
    )
    assert afile.read_text() == "x"
    assert list(folder.iterdir()) == []
