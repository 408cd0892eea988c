"""Walkthrough B, the Python API: ``ccapki.read_files("returned.pem")`` (one path, as a
script writes it) was iterated letter by letter ("r", "e", ...), and an absolute path began
with "/": the whole file system read as a folder of certificates. One path is one path.
docs/api.md named a parameter `pending_actions` does not have. And ``import_files`` of a
folder holding a README refused the folder, while ``ccapki import`` (which the docs say
differs from a script only in how it prints) skips it: ``skipped=[]`` does the same."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki
from kit.certs import NOW, OutsideCA, mint, pem
from kit.cli import deployment, standalone


@pytest.mark.parametrize("as_path", [False, True])
def test_read_files_takes_one_path_as_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_path: bool
) -> None:
    cert = mint("cas1.example.org", san=["cas1.example.org"]).cert
    (tmp_path / "c.pem").write_bytes(pem(cert))
    monkeypatch.chdir(tmp_path)  # a relative name: before the fix, "c", ".", "p"... were read
    materials = ccapki.read_files(Path("c.pem") if as_path else "c.pem")
    assert [m.certificates for m in materials] == [(cert,)]
    assert [Path(m.source).name for m in materials] == ["c.pem"]


def test_one_folder_string_is_that_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "returned"
    folder.mkdir()
    (folder / "leaf.pem").write_bytes(pem(mint("cas1.example.org").cert))
    monkeypatch.chdir(tmp_path)
    # import_files reads with read_files: it takes one folder the same way
    materials = ccapki.read_files("returned")
    assert [Path(m.source).name for m in materials] == ["leaf.pem"]


def test_every_parameter_docs_api_md_names_is_a_parameter_of_the_function() -> None:
    """A script calling ``pending_actions(store, deployment_or_plan=dep)`` as the table
    said got a TypeError: the parameter is ``deployment``. Each name the table gives in a
    signature (``name`` or ``name=default``) is a real parameter."""
    import inspect
    import re

    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)\((.*?)\)` \|", text, re.M)
    assert len(rows) > 20
    wrong = []
    for name, args in rows:
        real = inspect.signature(getattr(ccapki, name)).parameters
        for arg in (a.strip() for a in args.split(",")):
            param = arg.split("=")[0].strip()
            if param and param not in ("*", "...") and param not in real:
                wrong.append(f"{name}({param})")
    assert wrong == []


def test_import_files_skips_a_readme_in_the_folder_as_the_command_does(
    tmp_path: Path, outside: OutsideCA
) -> None:
    from cryptography import x509

    text = deployment(cas=[standalone("cas-tp", "10.6.0.1", source="third-party")])
    dep = ccapki.parse_deployment(text, "d.toml")
    folder = tmp_path / "returned"
    folder.mkdir()
    with ccapki.init_store(tmp_path / "store", key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, NOW)
        (csr,) = ccapki.make_csrs(store, dep, ["cas-tp"])
        signed = outside.sign_csr(x509.load_pem_x509_csr(csr.pem))
        (folder / "cas-tp.pem").write_bytes(pem(signed) + pem(outside.inter) + pem(outside.root))
        (folder / "README.txt").write_text("the CA's notes\n")
        skipped: list[tuple[str, str]] = []
        result = ccapki.import_files(store, dep, folder, now=NOW, skipped=skipped)
        assert [i.identity for i in result.identities] == ["cas-tp"]
        assert [Path(p).name for p, _ in skipped] == ["README.txt"]
        assert store.identities.get("cas-tp") is not None
