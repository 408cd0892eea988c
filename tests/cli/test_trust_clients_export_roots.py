"""Walkthrough: `ccapki trust check --clients FILE` could not read the `.mobileconfig` that
`ccapki export-roots` writes ("is text with no PEM block"). Every certificate file
export-roots writes (.pem, .p7b, each .cer, the Apple profile, the PEM of `--out -`) is a
client root bundle, read with a real parser (plistlib for the profile, cryptography for the
certificates), and gives the verdicts of the same roots in any other form; a malformed or
signed profile is error + hint.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ccapki.store import Store
from kit.certs import make_pki
from kit.cli import Cli, deployment, error_with_hint, ha_pair, standalone, write


@pytest.fixture
def roots(cli: Cli, keyfile_store: Path, tmp_path: Path) -> Path:
    """export-roots of a deployment whose clients need three roots (a true self-signed
    CAS, the Perfigo-style root, the internal CA): its folder, plus ``stdout.pem`` (what
    ``--out -`` writes)."""
    text = deployment(
        cas=[
            standalone("cas1", "10.1.0.1", source="self-signed"),
            standalone("cas2", "10.2.0.1", source="perfigo"),
            ha_pair("cas4", "10.4.0"),
        ]
    )
    assert cli("apply", write(tmp_path / "d.toml", text)).code == 0
    out = tmp_path / "roots"
    r = cli("export-roots", "--out", out)
    assert r.code == 0, r.both
    stdout = cli("export-roots", "--out", "-")
    assert stdout.code == 0, stdout.both
    write(out / "stdout.pem", stdout.out)
    return out


def _verdicts(cli: Cli, bundle: Path) -> tuple[int, object]:
    r = cli("trust", "check", "--clients", bundle, "--json")
    assert r.code in (0, 1), r.both
    return r.code, r.json()


def test_every_file_export_roots_writes_is_a_client_bundle_with_the_same_verdicts(
    cli: Cli, roots: Path, tmp_path: Path
) -> None:
    cers = sorted(roots.glob("ccapki-root-*.cer"))
    assert len(cers) == 3, sorted(p.name for p in roots.iterdir())
    profile = roots / "ccapki-roots.mobileconfig"
    binary = write(
        tmp_path / "binary.mobileconfig",
        plistlib.dumps(plistlib.loads(profile.read_bytes()), fmt=plistlib.FMT_BINARY),
    )
    every = [roots / "ccapki-roots.pem", roots / "ccapki-roots.p7b", profile, binary]
    every.append(roots / "stdout.pem")
    want = _verdicts(cli, roots / "ccapki-roots.pem")
    for bundle in every:
        assert _verdicts(cli, bundle) == want, bundle.name
    # each .cer holds one root: the verdicts of a PEM file of that root alone
    for cer in cers:
        cert = x509.load_der_x509_certificate(cer.read_bytes())
        alone = write(tmp_path / f"{cer.stem}.pem", cert.public_bytes(serialization.Encoding.PEM))
        assert _verdicts(cli, cer) == _verdicts(cli, alone), cer.name


def test_the_profile_holds_exactly_the_roots_of_the_pem(roots: Path) -> None:
    from ccapki.fsutil import read_input_file
    from ccapki.pki.formats import Kind, parse_material

    def fps(path: Path) -> list[bytes]:
        m = parse_material(read_input_file(path), source=str(path))
        return [c.fingerprint(hashes.SHA256()) for c in m.certificates]

    profile = roots / "ccapki-roots.mobileconfig"
    assert fps(profile) == fps(roots / "ccapki-roots.pem")
    kinds = parse_material(profile.read_bytes(), source=str(profile)).certificate_kinds
    assert set(kinds) == {Kind.APPLE_PROFILE}


def _profile(payloads: list[object]) -> bytes:
    return plistlib.dumps(
        {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadContent": payloads}
    )


def _signed(data: bytes) -> bytes:
    pki = make_pki()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(pki.leaf, pki.leaf_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [])
    )


@pytest.mark.parametrize(
    ("name", "make", "says"),
    [
        ("cut.mobileconfig", lambda good: good[: len(good) // 2], "does not parse"),
        ("nul.mobileconfig", lambda good: good.replace(b"<dict>", b"<dict\x00>", 1), "parse"),
        (
            "entities.mobileconfig",
            lambda good: good.replace(
                b"<plist",
                b'<!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n<plist',
                1,
            ),
            "does not parse",
        ),
        ("other.mobileconfig", lambda good: plistlib.dumps({"a": 1}), "not an Apple"),
        (
            "wifi.mobileconfig",
            lambda good: _profile([{"PayloadType": "com.apple.wifi.managed"}]),
            "holding no certificate payload",
        ),
        (
            "garbage.mobileconfig",
            lambda good: _profile(
                [
                    {
                        "PayloadType": "com.apple.security.root",
                        "PayloadDisplayName": "Broken Root",
                        "PayloadContent": b"\x30\x03\x02\x01\x01",
                    }
                ]
            ),
            "payload 1 (Broken Root) is not a valid certificate",
        ),
        (
            "text.mobileconfig",
            lambda good: _profile(
                [{"PayloadType": "com.apple.security.root", "PayloadContent": "not data"}]
            ),
            "is not a valid certificate",
        ),
        ("signed.mobileconfig", _signed, "signed (CMS) Apple configuration profile"),
    ],
)
def test_a_malformed_or_signed_profile_is_error_and_hint(
    cli: Cli, roots: Path, tmp_path: Path, name: str, make: object, says: str
) -> None:
    assert callable(make)
    good = (roots / "ccapki-roots.mobileconfig").read_bytes()
    bad = write(tmp_path / name, make(good))
    r = error_with_hint(cli("trust", "check", "--clients", bad))
    assert says in r.err, r.err
    assert str(bad) in r.err


def test_the_stores_roots_are_those_export_roots_wrote(cli: Cli, roots: Path) -> None:
    """The bundle the test compares against is the store's own roots (not an empty file
    that every format would agree on)."""
    from ccapki.pki.formats import parse_material

    pem = (roots / "ccapki-roots.pem").read_bytes()
    got = {c.fingerprint(hashes.SHA256()) for c in parse_material(pem, source="p").certificates}
    assert len(got) == 3
    home = cli.home
    assert home is not None
    with Store.open(home) as store:
        held = {c.certificate.fingerprint(hashes.SHA256()) for c in store.cas.list()}
        held |= {
            i.certificate.fingerprint(hashes.SHA256()) for i in store.identities.current().values()
        }
    assert got <= held
