"""An earlier version of an identity, whole (certificate, chain, its superseded key), from
`export --version N`, `inspect NAME --version N`, the Python API and the REST API: undoing a
renewal or a reissue is installing the earlier version again (the store kept it, but no
command gave it back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import ccapki
from ccapki.errors import InputError, NotFoundError
from kit.cli import FAQ, Cli, error_with_hint, ok


def _spki(key_or_cert: object) -> bytes:
    public = key_or_cert.public_key()  # type: ignore[attr-defined]
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _renewed(cli: Cli, home: Path) -> tuple[x509.Certificate, x509.Certificate]:
    """cam renewed once: (v1's certificate, v2's), as the store holds them."""
    ok(cli("apply", FAQ))
    ok(cli("renew", "cam", "--commit"))
    with ccapki.open_store(home) as store:
        v1, v2 = store.identities.history("cam")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.spki != v2.spki  # a new key at the renewal: v1's is superseded
    return v1.certificate, v2.certificate


def test_export_version_writes_the_earlier_certificate_with_its_own_key(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    v1, v2 = _renewed(cli, keyfile_store)
    out = tmp_path / "cam-v1.pem"
    r = ok(cli("export", "cam", "--version", "1", "--out", out))
    assert "cam v1 as pem-bundle" in r.out
    assert "earlier version of cam (the current is v2)" in r.err
    data = out.read_bytes()
    certs = x509.load_pem_x509_certificates(data)
    key = serialization.load_pem_private_key(data, None)
    assert certs[0] == v1
    assert _spki(key) == _spki(v1)  # the superseded key, not the current one
    assert _spki(key) != _spki(v2)
    assert out.stat().st_mode & 0o777 == 0o600
    # the current version, named or not, is what it always was
    for args in ((), ("--version", "2")):
        cur = tmp_path / f"cur{len(args)}.crt"
        ok(cli("export", "cam", "--format", "cert", "--out", cur, *args))
        assert x509.load_pem_x509_certificate(cur.read_bytes()) == v2
    # the key export is audited with the version it held
    with ccapki.open_store(keyfile_store) as store:
        exports = [e for e in store.audit.log(50) if e.action == "key-export"]
    assert [e.detail["version"] for e in exports] == [1]


def test_a_version_the_store_lacks_is_refused_naming_those_it_holds(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    _renewed(cli, keyfile_store)
    out = tmp_path / "none.pem"
    r = error_with_hint(cli("export", "cam", "--version", "7", "--out", out))
    assert "no version 7" in r.err
    assert "v1, v2" in r.err
    assert not out.exists()
    error_with_hint(cli("inspect", "cam", "--version", "7"))
    bad = cli("export", "cam", "--version", "0", "--out", out)
    assert bad.code == 2
    assert not out.exists()


def test_inspect_version_shows_the_earlier_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    v1, _ = _renewed(cli, keyfile_store)
    r = ok(cli("inspect", "cam", "--version", "1", "--format", "pem"))
    assert x509.load_pem_x509_certificate(r.out.encode()) == v1
    text = ok(cli("inspect", "cam", "--version", "1")).out
    assert "cam v1 (an earlier version; the current is v2)" in text
    # --version is for identities: a file is refused, not shown as if it were v1
    f = tmp_path / "v1.crt"
    f.write_bytes(v1.public_bytes(serialization.Encoding.PEM))
    r = error_with_hint(cli("inspect", str(f), "--version", "1"))
    assert "is a file" in r.err


def test_the_python_api_exports_an_earlier_version(cli: Cli, keyfile_store: Path) -> None:
    v1, _ = _renewed(cli, keyfile_store)
    with ccapki.open_store(keyfile_store) as store:
        data = ccapki.export(store, "cam", "pem-bundle", version=1)
        assert x509.load_pem_x509_certificates(data)[0] == v1
        with pytest.raises(NotFoundError, match="no version 3"):
            ccapki.export(store, "cam", "cert", version=3)
        for wrong in (0, "1", True):
            with pytest.raises(InputError, match="version"):
                ccapki.export(store, "cam", "cert", version=wrong)  # type: ignore[arg-type]
