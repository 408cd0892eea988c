"""Fixtures for the lifecycle tests (apply, CSR and import, trust sync, export, keys): the
CLI run in process on real passphrase stores.

Every store here is a passphrase store (``CCAPKI_PASSPHRASE`` is ``kit.cli.PASSPHRASE``)
whose scrypt runs for real at a low cost (``fast_scrypt``). Outside CAs (the "third-party
CA" that signs our CSRs) come from ``kit.certs.OutsideCA``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from ccapki.store import Store
from kit import cli as kit_cli
from kit.certs import NOW
from kit.cli import PASSPHRASE, Cli, ha_pair, ok, standalone, write


@pytest.fixture(autouse=True)
def _lifecycle_env(monkeypatch: pytest.MonkeyPatch, fast_scrypt: None) -> None:
    """Every store made here is a passphrase store (the real scrypt path, at a low cost)."""
    monkeypatch.setenv("CCAPKI_PASSPHRASE", PASSPHRASE)


def open_store(home: Path) -> Store:
    """The store itself (for the audit log and identity history)."""
    return Store.open(home, passphrase=lambda: PASSPHRASE, clock=lambda: NOW)


#: ``kit.cli.deployment`` named "wf" of "Workflow Org" (the texts these tests expect)
deployment = functools.partial(kit_cli.deployment, name="wf", organization="Workflow Org")

#: The workflow deployment: a CAM HA pair, a CAS HA pair and a standalone CAS whose identity
#: comes from a third-party CA.
THIRD_PARTY_DEP = deployment(
    cam=ha_pair("cam", "10.0.0"),
    cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-tp", "10.6.0.1", source="third-party")],
)


def tp_names(spec: str = "cas-tp", ip: str = "10.6.0.1") -> dict[str, list[str]]:
    """The SANs the plan gives the standalone third-party CAS of ``THIRD_PARTY_DEP``."""
    return {"dns": [f"{spec}.example.org"], "ips": [ip]}


@pytest.fixture
def deployed(cli: Cli, tmp_path: Path) -> Callable[[str], Path]:
    """``deployed(TEXT)``: init a store, write TEXT as the deployment file and apply it."""

    def make(text: str) -> Path:
        path = write(tmp_path / "deployment.toml", text)
        ok(cli("init"))
        ok(cli("apply", path))
        return path

    return make


def _openssl(*args: str | Path) -> None:
    from kit.tools import openssl

    r = openssl(*map(str, args))
    assert r.returncode == 0, r.stderr


def make_plain_root(folder: Path) -> tuple[Path, Path]:
    """A root as plain `openssl req -x509` makes it (CA:TRUE, SKI/AKI, no keyUsage):
    its key and certificate files in ``folder``."""
    key, cert = folder / "plain.key", folder / "plain.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
        "-subj", "/CN=Plain Third Party Root", "-days", "3650",
    )  # fmt: skip
    return key, cert


def import_signed_by(cli: Cli, folder: Path, key: Path, root: Path) -> None:
    """cas-tp's CSR (made here) signed by ``root`` with `openssl x509 -req`, imported with
    the root (the trust stores are left as they are)."""
    ok(cli("csr", "cas-tp", "--out", folder / "csr"))
    ext = write(
        folder / "ext.cnf",
        "subjectAltName=DNS:cas-tp.example.org,IP:10.6.0.1\n"
        "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n",
    )
    leaf = folder / "cas-tp.pem"
    _openssl(
        "x509", "-req", "-in", folder / "csr" / "cas-tp.csr", "-CA", root, "-CAkey", key,
        "-CAcreateserial", "-out", leaf, "-days", "300", "-extfile", ext,
    )  # fmt: skip
    write(folder / "bundle.pem", leaf.read_bytes() + root.read_bytes())
    ok(cli("import", folder / "bundle.pem"))
