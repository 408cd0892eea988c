"""Adopting an estate whose certificates have another key type than the deployment file's.

Found in a new administrator's walkthrough: `ccapki import --file a.toml cas1.p12` (the
appliance's own self-signed RSA-2048 certificate) said only "adopted: ... nothing to install
there", then `apply --dry-run` said `would reissue cas1: key type is not ecdsa-p256` and a
real apply replaced it, though the file never set ``key`` (ecdsa-p256 is the default). Same
for a third-party PFX with an RSA key. Now the import warns, per identity (counted at
scale), that the plan replaces it, saying when the file's key type is only the default and
naming the setting that keeps it; the plan's reason says "(the default)" and that setting.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ccapki.topology import fastload, loader
from kit.certs import NOW, OutsideCA, mint, rsa_key
from kit.cli import Cli, ok, write

PASSWORD = "cisco123"
DAY = dt.timedelta(days=1)

ADOPT = """\
[deployment]
name = "adopt"
release = "4.7.2"
organization = "Adopt"
source = "self-signed"
{header}
[cam]
name = "cam"
hostname = "cam.ad.edu"
ip = "10.7.0.1"
{cas}"""

CAS = """
[[cas]]
name = "{name}"
hostname = "{name}.ad.edu"
ip = "10.7.0.{n}"
{extra}"""

#: what `apply` says of cas1 when the file sets no key
DEFAULT_REASON = (
    'would reissue cas1: key type is not ecdsa-p256 (the default: key = "rsa-2048" in '
    "cas1's table or in [deployment] keeps its rsa-2048 key)\n"
)


def _adopt(tmp_path: Path, n: int = 2, *, header: str = "", extra: str = "") -> Path:
    """The walkthrough's ``a.toml``: a CAM and ``n`` CASs, self-signed on 4.7.2; ``header``
    and ``extra`` (in cas1's table) add settings."""
    cas = "".join(
        CAS.format(name=f"cas{i}", n=i + 1, extra=extra if i == 1 else "") for i in range(1, n + 1)
    )
    return write(tmp_path / "a.toml", ADOPT.format(header=header, cas=cas))


def _own_p12(tmp_path: Path, name: str, ip: str, *, own_key: bool = False) -> Path:
    """``name``'s own install-time certificate: true self-signed, RSA-2048, CN and SANs its
    hostname and IP, three months (4.7.2's), made ten days ago; with its key, as the
    appliance exports it. ``own_key``: a key made for it (else the session's RSA key: one
    appliance per store)."""
    host = f"{name}.ad.edu"
    key = rsa.generate_private_key(65537, 2048) if own_key else rsa_key(2048)
    own = mint(host, key=key, san=[host, ip], start=NOW - 10 * DAY, days=90)
    data = pkcs12.serialize_key_and_certificates(
        name.encode(),
        own.key,  # type: ignore[arg-type]
        own.cert,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    return write(tmp_path / f"{name}.p12", data)


def test_import_warns_that_apply_replaces_a_key_type_the_file_gives_by_default(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    a = _adopt(tmp_path)
    r = ok(
        cli("import", "--file", a, _own_p12(tmp_path, "cas1", "10.7.0.2"), "--password", PASSWORD)
    )
    assert (
        "imported cas1 v1: CN=cas1.ad.edu (key from batch, chain 0, expires 2027-02-15)\n"
        "  warning: cas1: its certificate's key type is rsa-2048, the deployment file's is "
        "ecdsa-p256 (the default: it sets no key): the next `ccapki apply` replaces it; "
        'key = "rsa-2048" in cas1\'s table or in [deployment] keeps it\n'
    ) in r.out, r.out
    dry = ok(cli("apply", a, "--dry-run")).out
    assert DEFAULT_REASON in dry, dry
    table = ok(cli("plan", a)).out  # the table's reason is text: "[deployment]" shown
    assert "[deployment]" in table, table
    assert "reissued cas1 v2" in ok(cli("apply", a)).out  # what the warning said


def test_the_setting_the_warning_names_keeps_the_adopted_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    a = _adopt(tmp_path, extra='key = "rsa-2048"\n')
    r = ok(
        cli("import", "--file", a, _own_p12(tmp_path, "cas1", "10.7.0.2"), "--password", PASSWORD)
    )
    assert "warning" not in r.out, r.out
    dry = ok(cli("apply", a, "--dry-run")).out
    assert "cas1" not in dry.split("kept:")[0], dry  # nothing to do for it
    r = ok(cli("apply", a))
    assert "kept: cas1 (adopted certificate, fits the plan)" in r.out, r.out
    assert "reissued cas1" not in r.out


def test_a_key_type_the_file_asks_for_is_not_called_the_default(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    a = _adopt(tmp_path, header='key = "ecdsa-p256"\n')
    r = ok(
        cli("import", "--file", a, _own_p12(tmp_path, "cas1", "10.7.0.2"), "--password", PASSWORD)
    )
    assert (
        "  warning: cas1: its certificate's key type is rsa-2048, the deployment file's is "
        "ecdsa-p256: the next `ccapki apply` replaces it; "
        'key = "rsa-2048" in cas1\'s table or in [deployment] keeps it\n'
    ) in r.out, r.out
    dry = ok(cli("apply", a, "--dry-run")).out
    assert "would reissue cas1: key type is not ecdsa-p256\n" in dry, dry


def test_a_third_party_pfx_with_an_rsa_key_is_said_to_need_a_new_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    outside = OutsideCA.make("Adopt CA")
    tp = write(
        tmp_path / "tp.toml",
        '[deployment]\nname = "tp"\nrelease = "4.9.0"\norganization = "TP"\n'
        'source = "third-party"\n[cam]\nname = "cam"\nhostname = "cam.tp.edu"\n'
        'ip = "10.9.0.1"\n[[cas]]\nname = "cas-tp"\nhostname = "cas-tp.tp.edu"\n'
        'ip = "10.9.0.2"\n',
    )
    key = rsa_key(2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TP"),
            x509.NameAttribute(NameOID.COMMON_NAME, "cas-tp.tp.edu"),
        ]
    )
    cert = outside.sign(subject, key.public_key(), dns=["cas-tp.tp.edu"], ips=["10.9.0.2"])
    pfx = write(
        tmp_path / "cas-tp.pfx",
        pkcs12.serialize_key_and_certificates(
            b"cas-tp",
            key,
            cert,
            list(outside.chain),
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        ),
    )
    r = ok(cli("import", "--file", tp, pfx, "--password", PASSWORD))
    assert (
        "  warning: cas-tp: its certificate's key type is rsa-2048, the deployment file's "
        "is ecdsa-p256 (the default: it sets no key): `ccapki plan` asks for a new CSR "
        '(ecdsa-p256) to replace it; key = "rsa-2048" in cas-tp\'s table or in [deployment] '
        "keeps it\n"
    ) in r.out, r.out
    dry = ok(cli("apply", tp, "--dry-run")).out
    assert (
        'key type is not ecdsa-p256 (the default: key = "rsa-2048" in cas-tp\'s table or in '
        "[deployment] keeps its rsa-2048 key)"
    ) in dry, dry


def test_many_adopted_certificates_are_counted_in_one_warning(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    a = _adopt(tmp_path, n=5)
    files = [_own_p12(tmp_path, f"cas{i}", f"10.7.0.{i + 1}", own_key=True) for i in range(1, 6)]
    r = ok(cli("import", "--file", a, *files, "--password", PASSWORD))
    assert "  warning: cas1:" not in r.out, r.out
    lines = [line for line in r.out.splitlines() if "key type" in line]
    assert lines == [
        "warning: 5 imported certificates (cas1, cas2, cas3 +2) have another key type than "
        "the plan's, the deployment file's is ecdsa-p256 (the default: it sets no key): the "
        "next `ccapki apply` replaces them (a third-party one: `ccapki plan` asks for a new "
        'CSR); key = "rsa-2048" in [deployment] (or in each identity\'s table) keeps them'
    ], r.out


@pytest.mark.parametrize("monitoring", [False, True], ids=["fast-loader", "full-loader"])
def test_both_loaders_tell_a_default_key_type_from_one_asked_for(monitoring: bool) -> None:
    """The fast path (a plain file) and the full loader (here for ``[monitoring]``) agree."""
    more = "\n[monitoring]\nwarn_days = [30]\n" if monitoring else ""
    cas = CAS.format(name="cas1", n=2, extra='key = "rsa-2048"\n') + CAS.format(
        name="cas2", n=3, extra=""
    )
    plain = ADOPT.format(header="", cas=cas) + more
    header = ADOPT.format(header='key = "ecdsa-p384"\n', cas=cas) + more
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        dep = parse(plain, "a.toml")
        default = {s.name: s.key_type_default for s in dep.identities}
        assert default == {"cam": True, "cas1": False, "cas2": True}, parse
        dep = parse(header, "a.toml")
        assert not any(s.key_type_default for s in dep.identities), parse
        assert dep.identity("cas2").key_type.value == "ecdsa-p384"
