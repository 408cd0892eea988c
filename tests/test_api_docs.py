"""docs/api.md: its three scripts run for real, and the page quotes them verbatim.

Each script in ``docs/examples/`` runs as a subprocess of this interpreter on a fresh store
in ``tmp_path`` (real time: the scripts use the API's default clock). The outside CA that
signs the CSRs in the import workflow is minted here with cryptography.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import ccapki
from kit.certs import OutsideCA, utcnow
from kit.cli import FAQ, PASSPHRASE, REPO, ha_pair, standalone

DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
CCAPKI = Path(sys.executable).parent / "ccapki"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The machine's environment without any ccapki setting, plus the store passphrase."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    out["CCAPKI_PASSPHRASE"] = PASSPHRASE
    out["HOME"] = str(tmp_path / "user-home")
    return out


def script(
    name: str, *args: str | Path, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *(str(a) for a in args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    return proc


def ccapki_cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(CCAPKI), *(str(a) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# ---------------------------------------------------------------------------- the page


def quoted_examples(text: str) -> dict[str, str]:
    """``docs/examples/NAME.py`` -> the code block that follows its marker in api.md."""
    found = re.findall(
        r"<!-- example: (docs/examples/[\w.]+) -->\n```python\n(.*?)```\n", text, re.DOTALL
    )
    return dict(found)


def test_api_md_quotes_every_example_script_verbatim() -> None:
    quoted = quoted_examples((DOCS / "api.md").read_text(encoding="utf-8"))
    files = {f"docs/examples/{p.name}" for p in EXAMPLES.glob("*.py")}
    assert set(quoted) == files
    assert len(files) == 3
    for rel, block in quoted.items():
        assert block == (REPO / rel).read_text(encoding="utf-8"), f"docs/api.md differs from {rel}"


def test_api_md_lists_every_public_name_of_the_api() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    functions = [n for n in ccapki.__all__ if n[0].islower() and not n.startswith("_")]
    missing = [n for n in functions if f"`{n}(" not in text]
    assert missing == []


# ---------------------------------------------------------------------------- 1. issue


@pytest.mark.sqlite_only  # the example scripts open the SQLite file in their home
def test_issue_script_issues_exports_checks_and_is_idempotent(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home, bundles = tmp_path / "store", tmp_path / "bundles"
    first = script("issue_deployment.py", FAQ, home, bundles, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "faq-campus: 6 certificates needed"
    names = ["cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex"]
    for name in names:
        assert any(line.startswith(f"{name}: issue (") for line in lines), first.stdout
    assert lines[-1] == "trust check: all pass"

    with ccapki.open_store(home, PASSPHRASE) as store:
        for name in names:
            current = store.identities.get(name)
            assert current is not None
            path = bundles / f"{name}.pem"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            data = path.read_bytes()
            leaf = x509.load_pem_x509_certificates(data)[0]
            assert leaf == current.certificate
            key = serialization.load_pem_private_key(data, password=None)
            assert key.public_key() == leaf.public_key()
        exports = [e for e in store.audit.log() if e.action == "key-export"]
    assert len(exports) == 6  # each bundle holds a key: each export is in the audit log
    assert {e.detail["path"] for e in exports} == {"<returned by ccapki.export>"}

    second = script("issue_deployment.py", FAQ, home, bundles, env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert all(f"{n}: nothing (" in second.stdout for n in names), second.stdout
    with ccapki.open_store(home, PASSPHRASE) as store:
        assert {store.identities.get(n).version for n in names} == {1}  # type: ignore[union-attr]


def test_issue_script_reports_a_broken_deployment_as_error_and_hint(
    tmp_path: Path, env: dict[str, str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(FAQ.read_text().replace('release = "4.8.0"', 'release = "banana"'))
    proc = script(
        "issue_deployment.py", bad, tmp_path / "store", tmp_path / "b", env=env, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {bad}:")
    assert "\nhint: " in proc.stderr
    assert not (tmp_path / "store").exists()


# ---------------------------------------------------------------------------- 2. import


def third_party_deployment(path: Path) -> Path:
    text = "\n".join(
        [
            "[deployment]",
            'name = "tp"',
            'release = "4.8.0"',
            'organization = "Doc Org"',
            'source = "internal"',
            "",
            "[cam]",
            ha_pair("cam", "10.0.0"),
            "[[cas]]",
            standalone("cas-tp", "10.6.0.1", source="third-party"),
            "[[cas]]",
            standalone("cas-tp2", "10.7.0.1", source="third-party"),
        ]
    )
    path.write_text(text + "\n")
    return path


def outside_ca() -> OutsideCA:
    """A third-party root and issuing CA on the real clock (the scripts use it too)."""
    return OutsideCA.make("Docs Outside", now=utcnow())


@pytest.mark.sqlite_only  # the example scripts open the SQLite file in their home
def test_import_script_makes_csrs_then_imports_the_returned_folder(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dep = third_party_deployment(tmp_path / "tp.toml")
    home = tmp_path / "store"
    ccapki_cli("--home", home, "init", env=env)
    ccapki_cli("--home", home, "apply", dep, env=env)

    csrs = tmp_path / "csrs"
    made = script("import_returned.py", "csr", dep, home, csrs, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in csrs.iterdir()) == ["cas-tp.csr", "cas-tp2.csr"]
    assert "pending" in made.stdout

    ca = outside_ca()
    returned = tmp_path / "returned"
    returned.mkdir()
    signed = {}
    for path in sorted(csrs.iterdir()):
        csr = x509.load_pem_x509_csr(path.read_bytes())
        assert csr.is_signature_valid
        signed[path.stem] = cert = ca.sign_csr(csr)
    # what CAs send back: a PEM leaf, a DER leaf, the chain apart
    pem = serialization.Encoding.PEM
    (returned / "cas-tp.crt").write_bytes(signed["cas-tp"].public_bytes(pem))
    (returned / "cas-tp2.cer").write_bytes(
        signed["cas-tp2"].public_bytes(serialization.Encoding.DER)
    )
    (returned / "chain.pem").write_bytes(ca.inter.public_bytes(pem) + ca.root.public_bytes(pem))

    done = script("import_returned.py", "import", dep, home, returned, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported cas-tp: CN=cas-tp" in done.stdout
    assert "imported cas-tp2: CN=cas-tp2" in done.stdout
    with ccapki.open_store(home, PASSPHRASE) as store:
        for name, cert in signed.items():
            current = store.identities.get(name)
            assert current is not None
            assert current.certificate == cert
            assert current.chain[0] == ca.inter
            # the key sealed when the CSR was made is the certificate's key
            assert store.keys.private_key(current.spki).public_key() == cert.public_key()

    again = script("import_returned.py", "import", dep, home, returned, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "imported" not in again.stdout
    assert "already held: cas-tp v1" in again.stdout


@pytest.mark.sqlite_only  # the example scripts open the SQLite file in their home
def test_import_script_refuses_a_certificate_with_no_key_and_imports_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dep = third_party_deployment(tmp_path / "tp.toml")
    home = tmp_path / "store"
    ccapki_cli("--home", home, "init", env=env)
    ccapki_cli("--home", home, "apply", dep, env=env)
    # a CSR made elsewhere: its key is not in the store
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cas-tp.example.org")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("cas-tp.example.org")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    returned = tmp_path / "returned"
    returned.mkdir()
    ca = outside_ca()
    (returned / "cas-tp.pem").write_bytes(
        ca.sign_csr(stranger).public_bytes(serialization.Encoding.PEM)
    )
    proc = script("import_returned.py", "import", dep, home, returned, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: private key not found")
    with ccapki.open_store(home, PASSPHRASE) as store:
        assert store.identities.get("cas-tp") is None


# ---------------------------------------------------------------------------- 3. CSV


def test_trust_csv_script_prints_the_matrix_and_shows_a_broken_trust_store(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "store"
    ccapki_cli("--home", home, "init", env=env)
    ccapki_cli("--home", home, "apply", FAQ, env=env)

    proc = script("trust_csv.py", FAQ, home, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["appliance", "cam-cas", "ha-heartbeat", "agent", "web-login", "admin-gui"]
    dep = ccapki.load_deployment(FAQ)
    assert [r[0] for r in rows[1:]] == [a.name for a in dep.appliances]
    table = {r[0]: dict(zip(rows[0][1:], r[1:], strict=True)) for r in rows[1:]}
    assert table["cam-a"] == {
        "cam-cas": "pass",
        "ha-heartbeat": "pass",
        "agent": "n/a",
        "web-login": "n/a",
        "admin-gui": "pass",
    }
    assert table["cas-clinic"]["ha-heartbeat"] == "n/a"  # a standalone CAS has no peer
    assert {v for r in table.values() for v in r.values()} == {"pass", "n/a"}

    # cas-clinic forgets the root it checks the CAM against: its cam-cas cell now fails
    listed = json.loads(
        ccapki_cli("--home", home, "trust", "list", "cas-clinic", "--json", env=env).stdout
    )
    ccapki_cli("--home", home, "trust", "remove", "cas-clinic", listed[0]["fingerprint"], env=env)
    broken = script("trust_csv.py", FAQ, home, env=env, cwd=tmp_path)
    assert broken.returncode == 1
    rows = list(csv.reader(io.StringIO(broken.stdout)))
    table = {r[0]: dict(zip(rows[0][1:], r[1:], strict=True)) for r in rows[1:]}
    assert table["cas-clinic"]["cam-cas"] == "FAIL"
    assert table["cas-annex"]["cam-cas"] == "pass"


# ---------------------------------------------------------------------------- __all__


PACKAGES = sorted(
    ".".join(p.parent.relative_to(REPO / "src").parts)
    for p in (REPO / "src" / "ccapki").rglob("__init__.py")
)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_its_public_names(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    names = module.__dict__.get("__all__")
    assert isinstance(names, list), f"{package} has no __all__"
    for name in names:
        if not hasattr(module, name):  # a submodule, imported on demand
            importlib.import_module(f"{package}.{name}")
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which is not there"
    # a package that only holds submodules lists every public one
    if names and all(importlib.util.find_spec(f"{package}.{n}") for n in names if n.islower()):
        folder = REPO / "src" / Path(*package.split("."))
        public = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
        if set(names) <= public | {p.name for p in folder.iterdir() if p.is_dir()}:
            assert set(names) == public, f"{package}.__all__ misses {sorted(public - set(names))}"


def test_the_package_exports_the_api() -> None:
    import ccapki.api

    assert set(ccapki.api.__all__) == set(ccapki.__all__) - {"__version__"}
    for name in ccapki.api.__all__:
        assert getattr(ccapki, name) is getattr(ccapki.api, name)
    for name in ccapki.api.__all__:
        obj = getattr(ccapki.api, name)
        if callable(obj) and name[0].islower():  # every function says what it gives back
            assert "Returns" in (obj.__doc__ or ""), name
            assert "Raises" in (obj.__doc__ or ""), name
