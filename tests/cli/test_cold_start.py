"""Fast everyday commands: what each one imports (issue 9; the times are in
benchmarks/bench_commands.py, these tests pin the causes).

Every command runs as a real ``python -X importtime -m ccapki ...`` process, and the test
reads the top-level packages it imported from the import-time report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccapki.pki.issue import make_root_ca
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import NOW
from kit.cli import FAQ

DATABASE = {"sqlalchemy", "alembic"}


def imported(
    args: list[str],
    home: Path,
    tmp_path: Path,
    *,
    codes: tuple[int, ...] = (0,),
    whole: bool = False,
) -> set[str]:
    """The packages (first dotted part; ``whole``: the modules' full names) ``ccapki ARGS``
    imports; it must exit with one of ``codes``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_")}
    env.update(CCAPKI_HOME=str(home), CCAPKI_PASSPHRASE="correct horse battery staple")
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ccapki", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode in codes, r.stdout + r.stderr
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name if whole else name.split(".")[0])
    assert "ccapki" in names  # the report is there
    return names


def test_plan_file_without_a_store_imports_no_database_code(tmp_path: Path) -> None:
    mods = imported(["plan", str(FAQ)], tmp_path / "no-store", tmp_path)
    assert not mods & DATABASE
    # planning a file makes no key and reads no certificate: no cryptography at all
    # (its import is the baseline of the cold-start goal; pki/keytypes.py, pki/request.py)
    assert "cryptography" not in mods


def test_inspect_file_imports_no_database_code_and_no_deployment_loader(
    tmp_path: Path,
) -> None:
    cert = make_root_ca("Cold Start Root", generate_key(KeyType.ECDSA_P256), now=NOW, days=30)
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path / "root.pem"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    mods = imported(["inspect", str(path)], tmp_path / "no-store", tmp_path)
    assert not mods & (DATABASE | {"pydantic"})
    # its two signature algorithms agree (cryptography compares them): no ASN.1 library
    # is loaded to name the inner one (~40 ms)
    assert "asn1crypto" not in mods
    # a PEM certificate is read without the PKCS#7/PKCS#12 readers (email's header parser,
    # ~11 ms) or the root writers; inspect -> pki.roots.is_property_list loaded both
    whole = imported(["inspect", str(path)], tmp_path / "no-store", tmp_path, whole=True)
    assert not {m for m in whole if m.endswith((".pkcs7", ".pkcs12"))}
    assert "ccapki.pki.roots" in whole  # (it was asked whether the file is a profile)


@pytest.mark.parametrize("command", ["inspect", "plan"])
def test_a_file_command_without_a_store_loads_no_store_package(
    tmp_path: Path, command: str
) -> None:
    """Checking that the store's database is a regular file loaded the store package
    (its records, the deployment model: ~14 ms, `inspect FILE` over its goal of 2x the
    import of cryptography.x509) where no store is."""
    cert = make_root_ca("Cold Start Root", generate_key(KeyType.ECDSA_P256), now=NOW, days=30)
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path / "root.pem"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    target = str(path) if command == "inspect" else str(FAQ)
    mods = imported([command, target], tmp_path / "no-store", tmp_path, whole=True)
    assert "ccapki.store" not in mods


def test_inspect_file_beside_a_store_loads_no_deployment_model(tmp_path: Path) -> None:
    """Beside a store, `inspect FILE` reads the CAs it holds (to name the one that signed
    the file): the store's records name where a certificate comes from (Source), which no
    longer loads the deployment model with it (~17 ms of the 2x goal)."""
    home = tmp_path / "store"
    imported(["init", "--key-file"], home, tmp_path)
    imported(["apply", str(FAQ)], home, tmp_path)
    pem = tmp_path / "cam.pem"
    imported(["export", "cam", "--format", "cert", "--out", str(pem)], home, tmp_path)
    mods = imported(["inspect", str(pem)], home, tmp_path, whole=True)
    assert "ccapki.store.records" in mods  # (it read the store)
    assert "ccapki.topology.model" not in mods
    assert not [m for m in mods if m.startswith("asn1crypto")]  # (a CA-signed one: the same)


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["trust", "check", "--help"]])
def test_help_imports_only_click(args: list[str], tmp_path: Path) -> None:
    mods = imported(args, tmp_path / "no-store", tmp_path)
    assert not mods & (DATABASE | {"cryptography", "rich", "pydantic"})


def test_version_loads_neither_dataclasses_nor_their_cached_code(tmp_path: Path) -> None:
    # the table of compiled dataclass methods (ccapki/_classcache.py) is for commands that
    # make classes; `--version` makes none and starts as Python does
    mods = imported(["--version"], tmp_path / "no-store", tmp_path, whole=True)
    assert "dataclasses" not in mods
    assert "ccapki._classcache" not in mods
    assert "ccapki._classcache" in imported(["--help"], tmp_path / "no-store", tmp_path, whole=True)


def test_reading_commands_on_a_current_sqlite_store_load_no_database_library(
    tmp_path: Path,
) -> None:
    # the store's SQLite file read through sqlite3 alone (Store.rows): SQLAlchemy's import
    # is ~3x the baseline of the goal (3.5x), and Alembic is needed only to migrate
    home = tmp_path / "store"
    imported(["init", "--key-file"], home, tmp_path)
    imported(["apply", str(FAQ)], home, tmp_path)
    for args in (["trust", "check"], ["plan"], ["keys", "list"], ["inspect", "cam"]):
        mods = imported(args, home, tmp_path, whole=True)
        assert not {m.split(".")[0] for m in mods} & DATABASE, args
    # trust check reads no certificate file: the file formats (~15 ms) stay unloaded
    assert "ccapki.pki.formats" not in imported(["trust", "check"], home, tmp_path, whole=True)
    # the apply that issued remembered that applying the same file again finds nothing to
    # do: the next apply of it, finding that, reads only...
    assert not imported(["apply", str(FAQ)], home, tmp_path) & DATABASE
    # ...while a command that writes loads it
    from cryptography.hazmat.primitives.serialization import Encoding

    root = tmp_path / "root.pem"
    cert = make_root_ca("Cold Start Root", generate_key(KeyType.ECDSA_P256), now=NOW, days=30)
    root.write_bytes(cert.public_bytes(Encoding.PEM))
    assert "sqlalchemy" in imported(["trust", "add", "cam-a", str(root)], home, tmp_path)


def test_apply_and_renew_without_a_lab_load_no_lab_code(tmp_path: Path) -> None:
    """Whether a lab serves the store (its renewals then need `lab reload`) is asked of
    the store's lab folder: none there, the lab's code (~0.1 s to import: its daemon,
    IPsec, probes) is not loaded."""
    home = tmp_path / "store"
    imported(["init", "--key-file"], home, tmp_path)
    for args in (["apply", str(FAQ)], ["renew", "cam", "--commit"]):
        mods = imported(args, home, tmp_path, whole=True)
        assert "ccapki.pki.issue" in mods, args  # (it issued)
        assert not {m for m in mods if m.startswith("ccapki.lab")}, args


def test_status_and_keys_list_read_columns_and_load_no_x509_code(tmp_path: Path) -> None:
    # the CAs' and trust-store roots' expiry are columns (schema 0010), the chains' CAs are
    # named by the SHA-256 of their PEM's DER: `status` of 10,000 identities starts
    # without cryptography's import (~0.03 s)
    home = tmp_path / "store"
    imported(["init", "--key-file"], home, tmp_path)
    imported(["apply", str(FAQ)], home, tmp_path)
    for args in (["status"], ["status", "--json"], ["status", "--nagios"], ["keys", "list"]):
        mods = imported(args, home, tmp_path, codes=(0, 1))
        assert "cryptography" not in mods, args
        assert not mods & DATABASE, args  # the SQLite file read through sqlite3 alone


def test_the_api_loads_the_database_only_when_a_store_is_used(tmp_path: Path) -> None:
    code = (
        "import sys, ccapki\n"
        f"dep = ccapki.load_deployment({str(FAQ)!r})\n"
        "assert ccapki.make_plan(dep).certificates_needed == 6\n"
        f"assert not ccapki.store_exists({str(tmp_path / 'none')!r})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic'}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
