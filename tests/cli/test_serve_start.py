"""``ccapki serve`` at start (walkthrough): on a store without an active user it says so
(every request but /health would be refused with 401 and nothing said why); ``--no-tls``
on an address other machines reach warns that passwords and tokens cross it in clear; a
SIGTERM right after its first line (a supervisor stopping it at once) stops it with exit 0
(it was exit 143 "interrupted", or ignored: the service ran on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli import Cli, ok


def _serve_stderr(home: Path, listen: str = "127.0.0.1:0") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_NOW")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccapki",
            "--home",
            str(home),
            "serve",
            "--no-tls",
            "--no-jobs",
            "--listen",
            listen,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the socket listens (and users were read)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert first.startswith("serving on "), (first, err)
    assert proc.returncode == 0, err
    return err


def test_serve_warns_when_nobody_can_log_in(cli: Cli, keyfile_store: Path) -> None:
    err = _serve_stderr(keyfile_store)
    assert "warning: no active user: nobody can log in or call the API" in err, err
    assert "ccapki users add NAME --role admin" in err
    ok(cli("users", "add", "ci", "--role", "admin", "--no-password"))
    ok(cli("users", "add", "ann", "--role", "admin", "--no-password"))
    assert "no active user" not in _serve_stderr(keyfile_store)
    ok(cli("users", "disable", "ci"))
    assert "no active user" not in _serve_stderr(keyfile_store)


def test_a_sigterm_right_after_the_first_line_stops_it_with_exit_0(keyfile_store: Path) -> None:
    for _ in range(5):
        assert "stopped" in _serve_stderr(keyfile_store)


def test_no_tls_on_a_network_address_warns_of_clear_text(keyfile_store: Path) -> None:
    err = _serve_stderr(keyfile_store, "0.0.0.0:0")
    assert "warning: --no-tls on 0.0.0.0: passwords, session cookies and API tokens" in err, err
    assert "--no-tls" not in _serve_stderr(keyfile_store, "127.0.0.1:0")


def test_a_machine_name_that_is_no_dns_name_is_left_out_of_the_service_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's own certificate names the machine when its name is a DNS name; one
    that is not ("build_01") is left out, not refused (service_certificate refuses names
    that are no DNS names, and `serve` must still start)."""
    import socket

    from ccapki.cli.serve import _service_cert_names

    monkeypatch.setattr(socket, "gethostname", lambda: "build_01")
    assert _service_cert_names("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]
    monkeypatch.setattr(socket, "gethostname", lambda: "pki-host")
    names = _service_cert_names("10.0.0.5")
    assert names == ["10.0.0.5", "localhost", "127.0.0.1", "::1", "pki-host"]
