"""A walkthrough found `apply` crashing (exit 70, "Attribute's length must be >= 1 and
<= 64") for an organization of 48 characters: the CA's name is the organization plus
" Clean Access Root CA", over X.509's 64 (bytes of UTF-8, as cryptography counts them).
Host names over 64 bytes crashed the leaf's commonName the same way; `plan` and
`apply --dry-run` said nothing. Names are now fitted (the suffix kept whole), and an
organization that cannot fit O is refused at load with FILE:LINE."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ccapki.pki.issue import fit_name
from kit.cli import Cli, error_with_hint, ok, write

ORG = "Example University Hospital Networks Department"  # 48 characters
HOST = "cam-appliance-number-one.network-operations.example-university.edu"  # 66


def _file(tmp_path: Path, org: str, source: str = "internal") -> Path:
    return write(
        tmp_path / "long.toml",
        f'[deployment]\nname = "long"\nrelease = "4.8.0"\norganization = "{org}"\n'
        f'source = "{source}"\n\n[cam]\nname = "cam"\nhostname = "{HOST}"\nip = "10.0.0.1"\n\n'
        f'[[cas]]\nname = "cas-tp"\nsource = "third-party"\nhostname = "cas.example.edu"\n'
        f'ip = "10.0.1.1"\n',
    )


def test_long_organization_and_host_names_issue_and_verify(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    dep = _file(tmp_path, ORG)
    ok(cli("apply", dep, "--dry-run"))
    ok(cli("apply", dep))
    out = tmp_path / "cam.pem"
    ok(cli("export", "cam", "--format", "fullchain", "--out", out))
    chain = x509.load_pem_x509_certificates(out.read_bytes())
    leaf, ca = chain[0], chain[1]
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str)
    assert len(cn.encode()) <= 64
    assert cn.endswith("...")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert HOST in names.get_values_for_type(x509.DNSName)  # the SAN holds it whole
    ca_cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(ca_cn, str)
    assert ca_cn.endswith("... Clean Access Appliance CA")
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG
    doc = cli("trust", "check", "--json").json()  # cas-tp awaits its CA: only cam counts
    cam = [  # cam-cas waits for cas-tp's certificate
        c["status"] for c in doc["cells"] if c["appliance"] == "cam" and c["channel"] != "cam-cas"
    ]
    assert cam
    assert set(cam) <= {"pass", "n/a"}, doc["cells"]
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csrs"))


def test_an_organization_over_64_bytes_is_refused_at_load(cli: Cli, tmp_path: Path) -> None:
    r = error_with_hint(cli("plan", _file(tmp_path, "Université " * 6)))
    assert "long.toml:4:" in r.err
    assert "64" in r.err


def test_fit_name_keeps_the_suffix_and_counts_utf8_bytes() -> None:
    assert fit_name("Short Org", "Clean Access Root CA") == "Short Org Clean Access Root CA"
    root = fit_name("É" * 40, "Clean Access Root CA")
    inter = fit_name("É" * 40, "Clean Access Appliance CA")
    assert root != inter
    assert len(root.encode()) <= 64
    assert len(inter.encode()) <= 64
    assert root.endswith("... Clean Access Root CA")
