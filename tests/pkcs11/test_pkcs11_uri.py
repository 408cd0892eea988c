"""PKCS#11 URIs (RFC 7512): what is honoured, what is refused, percent-decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import InputError
from ccapki.hsm.uri import Pkcs11Uri, parse_pkcs11_uri


def test_token_object_and_id_are_percent_decoded() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=Campus%20HSM;object=root%2Fca;id=%01%ff;type=private")
    assert uri == Pkcs11Uri(token="Campus HSM", object="root/ca", id=b"\x01\xff")
    assert str(uri) == "pkcs11:token=Campus%20HSM;object=root%2Fca;id=%01%ff"
    assert parse_pkcs11_uri(str(uri)) == uri


def test_module_path_is_honoured_and_kept_apart() -> None:
    uri = parse_pkcs11_uri(
        "PKCS11:serial=42;slot-id=3;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so"
    )
    assert (uri.serial, uri.slot_id, uri.module_path) == (
        "42",
        3,
        "/usr/lib/softhsm/libsofthsm2.so",
    )
    assert "module-path" not in str(uri.without_module())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("pkcs11:token=t;object=k?pin-value=1234", "pin-value is not honoured"),
        ("pkcs11:token=t;object=k?pin-source=file:/pin", "pin-source is not honoured"),
        ("pkcs11:token=t;object=k?module-name=softhsm2", "module-name is not honoured"),
        ("pkcs11:token=t;object=k;token=u", "token is given twice"),
        ("pkcs11:token=t;object=k;x-vendor=1", "'x-vendor' is not one ccapki honours"),
        ("pkcs11:token=t;object=k;type=public", "type=public names no private key"),
        ("pkcs11:token=t;object=k%zz", "% not followed by two hex digits"),
        ("pkcs11:token=t;object=%ff", "not UTF-8"),
        ("pkcs11:object=k", "names no token"),
        ("pkcs11:token=t", "names no key object"),
        ("pkcs11:token=t;slot-id=a;object=k", "slot-id=a is not a number"),
        ("pkcs11:token=t;object", "is not NAME=VALUE"),
        ("https://example.edu/key", "does not start with pkcs11:"),
    ],
)
def test_bad_uris_are_refused_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(InputError) as err:
        parse_pkcs11_uri(text)
    assert says in err.value.message
    assert err.value.hint


def test_a_pin_in_a_uri_is_never_repeated() -> None:
    with pytest.raises(InputError) as err:
        parse_pkcs11_uri("pkcs11:token=t;object=k?pin-value=secret-4711")
    assert "secret-4711" not in err.value.message + err.value.hint


def test_the_deployment_file_ca_table_is_checked(tmp_path: Path) -> None:
    from ccapki.errors import DeploymentError
    from ccapki.topology.loader import parse_deployment
    from kit.cli import FAQ

    text = FAQ.read_text(encoding="utf-8")
    good = parse_deployment(
        text + '\n[ca]\nroot_pkcs11_uri = "pkcs11:token=t;object=root%20ca"\n'
        'pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"\n'
    )
    assert good.ca_keys.root_pkcs11_uri == "pkcs11:token=t;object=root%20ca"
    assert good.ca_keys.intermediate_pkcs11_uri is None
    for bad, says in (
        ('root_pkcs11_uri = "pkcs11:token=t;object=r?pin-value=1"', "pin-value is not honoured"),
        ('pkcs11_module = "libsofthsm2.so"', "not an absolute path"),
        ('root_uri = "pkcs11:token=t;object=r"', "unknown key 'root_uri'"),
    ):
        body = text + f"\n[ca]\n{bad}\n"
        with pytest.raises(DeploymentError) as err:
            parse_deployment(body, "deploy.toml")
        assert says in err.value.message
        assert err.value.message.startswith(f"deploy.toml:{body.count(chr(10))}:")
