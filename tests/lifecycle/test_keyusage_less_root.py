"""Issue 10, item 2: a third-party root made with plain ``openssl req -x509`` (CA:TRUE, no
keyUsage) is judged per stack, not by web-PKI alone.

Java PKIX (the CAM/CAS control channel) does not read a trust anchor's keyUsage, and
Chromium (web login, admin GUI) accepts an anchor without one (RFC 5280: no keyUsage, no
restriction): those channels pass, with the web-PKI refusal kept as a warning. The browser
verdict is proven with the real Chromium in tests/lab/test_stack_chromium.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.trust import Stack, verify_for_stack
from kit.certs import ec_key
from kit.cli import CliRunner, ok

from .conftest import THIRD_PARTY_DEP, import_signed_by, make_plain_root

#: openssl stamps its certificates with the machine's clock: so do these tests
pytestmark = pytest.mark.usefixtures("wall_clock")


@pytest.fixture
def plain_root(tmp_path: Path) -> tuple[Path, Path]:
    """A root as `openssl req -x509` makes it: CA:TRUE, SKI/AKI, no keyUsage."""
    key, cert = make_plain_root(tmp_path)
    root = x509.load_pem_x509_certificate(cert.read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.KeyUsage)
    return key, cert


@pytest.fixture
def imported(
    cli: CliRunner, deployed: Callable[[str], Path], plain_root: tuple[Path, Path], tmp_path: Path
) -> Path:
    """cas-tp's CSR signed by the plain root with `openssl x509 -req`, imported, trusted."""
    deployed(THIRD_PARTY_DEP)
    key, root = plain_root
    import_signed_by(cli, tmp_path, key, root)
    ok(cli("trust", "apply"))
    return root


def _cells(doc: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["appliance"], c["channel"]): c for c in doc["cells"]}


def test_trust_check_passes_the_channels_whose_stack_accepts_it(
    cli: CliRunner, imported: Path
) -> None:
    r = cli("trust", "check", "--json")
    cells = _cells(r.json())
    for channel in ("cam-cas", "web-login", "admin-gui", "agent"):
        cell = cells[("cas-tp", channel)]
        assert cell["status"] == "warn", cell
        assert not cell["findings"]
        assert any("web-PKI refuses" in w and "keyUsage" in w for w in cell["warnings"]), cell
    assert not any("re-issue CA" in f for c in cells.values() for f in c["findings"])
    text = cli("trust", "check")
    assert "web-PKI refuses" in text.out


def test_each_stack_gives_its_own_verdict(plain_root: tuple[Path, Path], tmp_path: Path) -> None:
    key_path, cert_path = plain_root
    root = x509.load_pem_x509_certificate(cert_path.read_bytes())
    root_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    leaf_key = ec_key()
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cas.example.org")]))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("cas.example.org")]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )  # type: ignore[arg-type]
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        )
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    verdicts = {
        s: verify_for_stack(s, leaf, [], [root], peer_name="cas.example.org", at=now) for s in Stack
    }
    refuse = {s for s, v in verdicts.items() if not v.ok}
    assert refuse == {Stack.WEBPKI, Stack.OPENSSL_STRICT}
    assert verdicts[Stack.WEBPKI].errors[0].code == "wrong-key-usage"
    java = verdicts[Stack.JAVA_PKIX]
    assert java.stack == "java-pkix"
    assert [w.code for w in java.warnings] == ["wrong-key-usage"]
    assert java.warnings[0].reason.startswith("web-PKI refuses: ")
