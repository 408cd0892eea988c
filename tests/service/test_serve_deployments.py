"""``ccapki serve`` over a store of several deployments (issue 13's walkthrough): the
service is store-wide, so it starts whatever the number of deployments, and its own TLS
certificate comes from the internal CA of the deployment named (``--deployment``), else of
the only one, else of the first by name that has one, else it is self-made; the first
lines say which."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

import ccapki
from kit.certs import NOW
from kit.cli import Cli, ok
from kit.jobs import bulk_deployment


def _serve(home: Path, tmp: Path, *options: str) -> tuple[list[str], x509.Certificate, str]:
    """Start ``ccapki [options] serve`` on a free port, read its first two lines and the
    certificate it serves, stop it (SIGTERM). Returns (lines, certificate, stderr)."""
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    env.pop("CCAPKI_DEPLOYMENT", None)
    command = [sys.executable, "-m", "ccapki", "--home", str(home), "serve"]
    proc = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", "--no-jobs", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        if not lines[0].startswith("serving on "):
            proc.kill()
            _out, err = proc.communicate(timeout=60)
            pytest.fail(f"ccapki serve did not start: {lines} {err}")
        port = int(lines[0].split()[2].rstrip("/").rsplit(":", 1)[1])
        pem = ssl.get_server_certificate(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return lines, x509.load_pem_x509_certificate(pem.encode()), err


def _issuer_cn(cert: x509.Certificate) -> str:
    return str(cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def test_serve_starts_over_several_deployments_and_says_whose_ca_signed_it(
    service_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    home, _ = service_home
    with ccapki.open_store(home, clock=lambda: NOW) as store:  # a second deployment
        ccapki.apply(store, ccapki.parse_deployment(bulk_deployment(1, "w13"), "w13.toml"))
        assert store.deployments.names() == ["faq-campus", "w13"]
    # none named: the first (by name) with an internal CA
    lines, cert, err = _serve(home, tmp_path / "a")
    assert lines[1] == (
        "TLS: a 30-day certificate from the internal CA of deployment faq-campus "
        "(Example University Clean Access Appliance CA; the first of 2 deployments by name; "
        "--deployment NAME chooses)\n"
    )
    assert _issuer_cn(cert) == "Example University Clean Access Appliance CA"
    assert "Traceback" not in err
    # named: that deployment's CA
    lines, cert, _ = _serve(home, tmp_path / "b", "--deployment", "w13")
    assert lines[1] == (
        "TLS: a 30-day certificate from the internal CA of deployment w13 "
        "(Bulk Org Clean Access Appliance CA; named by --deployment)\n"
    )
    assert _issuer_cn(cert) == "Bulk Org Clean Access Appliance CA"


def test_serve_keeps_to_the_ca_it_signed_with_when_a_deployment_is_added(
    service_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A walkthrough: the service's CA was "the first deployment by name", so adding a
    deployment that sorts first changed the CA its clients had been told to trust (every
    client then refused the service). The deployment that signed is kept in the store; a
    serve naming none keeps to it; --deployment chooses another (kept from then on)."""
    home, _ = service_home
    lines, cert, _ = _serve(home, tmp_path / "a")
    assert "deployment faq-campus (" in lines[1]
    first = _issuer_cn(cert)
    with ccapki.open_store(home, clock=lambda: NOW) as store:  # sorts before faq-campus
        ccapki.apply(store, ccapki.parse_deployment(bulk_deployment(1, "aaa"), "aaa.toml"))
        assert store.deployments.names()[0] == "aaa"
    lines, cert, _ = _serve(home, tmp_path / "b")
    assert lines[1] == (
        "TLS: a 30-day certificate from the internal CA of deployment faq-campus "
        "(Example University Clean Access Appliance CA; the one serve used before; "
        "--deployment NAME chooses another)\n"
    )
    assert _issuer_cn(cert) == first
    lines, cert, _ = _serve(home, tmp_path / "c", "--deployment", "aaa")
    assert _issuer_cn(cert) == "Bulk Org Clean Access Appliance CA"
    lines, cert, _ = _serve(home, tmp_path / "d")
    assert "deployment aaa (" in lines[1]
    assert "the one serve used before" in lines[1]
    assert _issuer_cn(cert) == "Bulk Org Clean Access Appliance CA"


def test_serve_says_the_deployments_before_its_ca_have_none(
    service_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A walkthrough: deployments clinic (self-signed: no internal CA) and hospital; serve
    said hospital was "the first of 2 deployments by name": clinic is. It says hospital
    is the first that has an internal CA."""
    home, _ = service_home
    text = bulk_deployment(1, "aaa").replace('source = "internal"', 'source = "self-signed"')
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        ccapki.apply(store, ccapki.parse_deployment(text, "aaa.toml"))
        assert store.deployments.names() == ["aaa", "faq-campus"]
    lines, cert, _ = _serve(home, tmp_path / "a")
    assert lines[1] == (
        "TLS: a 30-day certificate from the internal CA of deployment faq-campus "
        "(Example University Clean Access Appliance CA; the first by name that has an "
        "internal CA, of 2 deployments; --deployment NAME chooses)\n"
    )
    assert _issuer_cn(cert) == "Example University Clean Access Appliance CA"


def test_serve_on_a_store_without_an_internal_ca_makes_its_own_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    lines, cert, _ = _serve(keyfile_store, tmp_path / "a")
    assert lines[1].startswith("TLS: a self-signed 30-day certificate (no deployment has an ")
    assert cert.issuer == cert.subject


def test_serve_help_names_the_deployment_option(cli: Cli, keyfile_store: Path) -> None:
    text = ok(cli("serve", "--help")).out
    assert "--deployment NAME" in text
    assert "self-signed" in text
