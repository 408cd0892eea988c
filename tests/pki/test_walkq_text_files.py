"""Walkthrough Q: a text file that happens to start with the character '0' (0x30, the DER
SEQUENCE tag), such as the ``.srl`` serial file OpenSSL leaves beside a CA's files, is
text with no PEM block, not "truncated DER data": in a folder it is skipped with a warning
like a README, instead of stopping the whole import."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.pki.formats import NoMaterialError, parse_files, parse_material
from kit.certs import Pki

#: what ``openssl x509 -req -CAcreateserial`` writes to ``root.srl``
SERIAL_FILE = b"0A6873B541B12E1D9F6CA9673E1BC681A06143DC\n"


@pytest.mark.parametrize(
    "data",
    [SERIAL_FILE, b"0\n", b"0 certificates were issued today\n", b"  0AB\r\n"],
    ids=["openssl-srl", "zero", "sentence", "indented"],
)
def test_text_starting_with_zero_is_text_not_der(data: bytes) -> None:
    with pytest.raises(NoMaterialError) as err:
        parse_material(data, source="root.srl")
    assert "text with no PEM block" in err.value.message
    assert "DER" not in err.value.message
    assert err.value.hint


def test_folder_with_a_serial_file_imports_the_certificates(pki: Pki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "cas.pem").write_bytes(pki.leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.srl").write_bytes(SERIAL_FILE)
    skipped: list[tuple[str, str]] = []
    materials = parse_files([tmp_path], skipped=skipped)
    assert [c.subject for m in materials for c in m.certificates] == [pki.leaf.subject]
    assert [(Path(p).name, "text with no PEM block" in why) for p, why in skipped] == [
        ("root.srl", True)
    ]


def test_real_truncated_der_is_still_truncated(pki: Pki) -> None:
    from cryptography.hazmat.primitives import serialization

    from ccapki.errors import FileFormatError

    der = pki.leaf.public_bytes(serialization.Encoding.DER)[:200]
    with pytest.raises(FileFormatError, match="truncated DER data"):
        parse_material(der, source="cut.bin")
