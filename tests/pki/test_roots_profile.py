"""A `.mobileconfig` that `roots.mobileconfig` writes reads back, with plistlib, to the same
roots (XML or binary plist), through :func:`parse_material` too; anything else is refused
with a message naming the file."""

from __future__ import annotations

import plistlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccapki.errors import FileFormatError
from ccapki.pki import roots
from ccapki.pki.formats import Kind, parse_material
from kit.certs import make_pki


def _two_roots() -> list[x509.Certificate]:
    return [make_pki(root_name="Root A").root, make_pki(root_name="Root B").root]


def test_the_profile_reads_back_to_its_roots_xml_and_binary() -> None:
    certs = _two_roots()
    xml = roots.mobileconfig(certs, identifier="t.roots", organization="T", display_name="T")
    binary = plistlib.dumps(plistlib.loads(xml), fmt=plistlib.FMT_BINARY)
    for data in (xml, binary):
        assert roots.is_property_list(data)
        got = roots.profile_certificates(data, source="p.mobileconfig")
        assert [c for _, c in got] == certs
        assert got[0][0] == "payload 1 (Root A)"
        m = parse_material(data, source="p.mobileconfig")
        assert list(m.certificates) == certs
        assert set(m.certificate_kinds) == {Kind.APPLE_PROFILE}


def test_a_pem_payload_is_read_too() -> None:
    root = make_pki().root
    profile = plistlib.dumps(
        {
            "PayloadType": "Configuration",
            "PayloadContent": [
                {"PayloadType": "com.apple.wifi.managed"},
                {
                    "PayloadType": "com.apple.security.pem",
                    "PayloadContent": root.public_bytes(serialization.Encoding.PEM),
                },
            ],
        }
    )
    assert [c for _, c in roots.profile_certificates(profile, source="x")] == [root]


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN CERTIFICATE-----\n",
        b"\x30\x82\x01\x00",
        b"<html><body>plist</body></html>",
        b"just text",
    ],
)
def test_other_data_is_no_property_list(data: bytes) -> None:
    assert not roots.is_property_list(data)


def test_a_plist_that_is_no_profile_names_the_file() -> None:
    with pytest.raises(FileFormatError, match=r"^x\.mobileconfig: is a property list but not"):
        roots.profile_certificates(plistlib.dumps(["a"]), source="x.mobileconfig")
