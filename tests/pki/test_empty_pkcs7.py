"""A PKCS#7 bundle holding no certificate (``openssl crl2pkcs7 -nocrl`` without
``-certfile``: what a CA portal hands out when the chain was left out).

Before: the PEM form said cryptography's own words ("The provided PKCS7 has no certificate
data, but a cert loading method was called.") with the hint for a damaged file; the DER form
said it was "a PKCS#7/CMS structure holding signed_data, not a certificate bundle", though a
signed-data structure is exactly a certificate bundle. Now both say it holds no
certificates, with the hint to ask for the bundle with the chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import FileFormatError
from ccapki.pki.formats import parse_material
from kit.cli import Cli, error_with_hint
from kit.tools import openssl


@pytest.mark.parametrize("form", ["PEM", "DER"])
def test_an_empty_pkcs7_bundle_says_it_holds_no_certificates(
    tmp_path: Path, cli: Cli, form: str
) -> None:
    path = tmp_path / f"empty-{form}.p7b"
    r = openssl("crl2pkcs7", "-nocrl", "-outform", form, "-out", str(path))
    assert r.returncode == 0, r.stderr
    with pytest.raises(FileFormatError) as caught:
        parse_material(path.read_bytes(), source=path.name)
    assert "is a PKCS#7 bundle holding no certificates" in str(caught.value)
    assert "ask the CA for the .p7b that includes the certificate chain" in caught.value.hint
    for command in ("inspect", "import"):
        r2 = error_with_hint(cli(command, path))
        assert "holding no certificates" in r2.err, r2.err
        assert "cert loading method" not in r2.err
        assert "signed_data" not in r2.err
