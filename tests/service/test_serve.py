"""``ccapki serve`` as a real process (TLS with a certificate from the store's internal CA,
trusted through the store's root; HSTS; a clean stop on SIGTERM) and ``ccapki users``."""

from __future__ import annotations

import io
import os
import signal
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

import ccapki
from kit.certs import NOW
from kit.cli import Cli, error_with_hint, ok
from kit.service import PASSWORDS, login


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    first_lines: list[str]
    tmp: Path


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp)
    return env


@pytest.fixture
def served(service_home: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Served]:
    """``ccapki serve --listen 127.0.0.1:0`` (TLS) over the service store, in its own
    process, with its own temporary folder; stopped with SIGTERM at the end if still up."""
    home, _ = service_home
    tmp = tmp_path / "serve-tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccapki",
            "--home",
            str(home),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-jobs",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # ends when the process does
    if not lines[0].startswith("serving on "):
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"ccapki serve did not start: {lines} {err}")
    url = lines[0].split()[2].rstrip("/")
    try:
        yield Served(proc, url, lines, tmp)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def _trust(home: Path, tmp_path: Path) -> ssl.SSLContext:
    """A client context trusting only the store's root(s) (what export-roots gives)."""
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        roots = ccapki.client_roots(store)
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(
        b"".join(r.certificate.public_bytes(serialization.Encoding.PEM) for r in roots)
    )
    return ssl.create_default_context(cafile=str(bundle))


def test_serve_speaks_tls_trusted_through_the_store_root_and_stops_on_sigterm(
    served: Served, service_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    home, tokens = service_home
    assert served.url.startswith("https://127.0.0.1:")
    assert served.first_lines[1].startswith("TLS: a 30-day certificate from the internal CA")
    # the key for the server: only in a private temporary folder
    (folder,) = list(served.tmp.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    ctx = _trust(home, tmp_path)
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    with httpx.Client(base_url=served.url, verify=ctx, headers=auth, timeout=60) as c:
        r = c.get("/api/v1/me")
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "viewer"
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        assert "server" not in r.headers
        assert c.get("/openapi.json").json()["info"]["title"] == "ccapki"
    # a web login over TLS: the session cookie is Secure
    with httpx.Client(base_url=served.url, verify=ctx, timeout=60) as browser:
        r = login(browser, "viewer", PASSWORDS["viewer"])
        assert r.status_code == 200, r.text
        (cookie,) = [v for v in r.headers.get_list("set-cookie") if v.startswith("ccapki_session=")]
        assert "secure" in cookie.lower()
    # a client that does not trust the store's root refuses the service
    with (
        httpx.Client(base_url=served.url, timeout=60) as stranger,
        pytest.raises(httpx.ConnectError),
    ):
        stranger.get("/api/v1/health")
    # the certificate is audited, its key is not in the store
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        (entry,) = [e for e in store.audit.log(50) if e.action == "serve-certificate"]
    assert "127.0.0.1" in entry.detail["names"]  # type: ignore[operator]
    # SIGTERM: a clean stop, exit 0, the temporary folder gone
    served.proc.send_signal(signal.SIGTERM)
    out, err = served.proc.communicate(timeout=60)
    assert served.proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert "PRIVATE KEY" not in out + err
    assert err.strip().endswith("stopped")
    assert list(served.tmp.iterdir()) == []


def test_serve_refuses_bad_options(cli: Cli, keyfile_store: Path) -> None:
    r = error_with_hint(cli("serve", "--listen", "nowhere"))
    assert r.err.startswith("error: --listen 'nowhere' is not HOST:PORT")
    r = error_with_hint(cli("serve", "--no-tls", "--tls-identity", "cam"))
    r = error_with_hint(cli("serve", "--tls-cert", "missing.pem"))
    assert "--tls-cert and --tls-key go together" in r.err
    # (an empty store has no internal CA: the service signs its certificate itself, see
    # test_serve_deployments.py)
    r = error_with_hint(cli("serve", "--deployment", "nope", "--listen", "127.0.0.1:0"))
    assert "no deployment 'nope'" in r.err
    help_text = ok(cli("serve", "--help")).out
    assert "EXAMPLES" in help_text
    assert "EXIT CODES" in help_text


# ---------------------------------------------------------------------------- users


def test_users_commands(cli: Cli, keyfile_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert ok(cli("users", "add", "ann", "--role", "admin", "--password-stdin")).out == (
        "added admin ann\n"
    )
    ok(cli("users", "add", "ci", "--role", "viewer", "--no-password"))  # tokens only
    listed = ok(cli("users", "list", "--json")).json()
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ann", "admin", False),
        ("ci", "viewer", False),
    ]
    with ccapki.open_store(keyfile_store) as store:
        ann = store.users.get("ann")
    from ccapki.service.auth import verify_password

    assert verify_password(ann.password_hash, "a-long-password")
    made = ok(cli("users", "token", "ci", "--label", "grafana", "--expires-days", "30"))
    token = made.out.strip()
    assert len(token) >= 43
    assert "shown once" in made.err
    with ccapki.open_store(keyfile_store) as store:
        assert store.tokens.check(token) is not None
        assert token not in str(store.audit.log(50))
    tokens = ok(cli("users", "tokens")).out
    assert "grafana" in tokens
    assert token not in tokens
    ok(cli("users", "set-role", "ci", "operator"))
    ok(cli("users", "disable", "ci"))
    with ccapki.open_store(keyfile_store) as store:
        ci = store.users.get("ci")
        assert ci.role.value == "operator"
        assert not ci.active
        assert store.tokens.check(token) is None
    ok(cli("users", "enable", "ci"))
    ok(cli("users", "revoke", "1"))
    error_with_hint(cli("users", "revoke", "1"))  # not live any more
    with ccapki.open_store(keyfile_store) as store:
        assert store.tokens.check(token) is None
    # bad input: error + hint, exit 2
    error_with_hint(cli("users", "add", "ann", "--role", "viewer", "--no-password"))  # taken
    error_with_hint(cli("users", "add", "bad name", "--role", "viewer"))
    error_with_hint(cli("users", "set-role", "ghost", "viewer"))
    error_with_hint(cli("users", "add", "x", "--role", "root"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    r = error_with_hint(cli("users", "add", "sam", "--role", "viewer", "--password-stdin"))
    assert "too short" in r.err
    help_text = ok(cli("users", "--help")).out
    assert "EXAMPLES" in help_text
    assert "EXIT CODES" in help_text


def test_serve_with_a_store_identity(
    service_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """``--tls-identity cam``: the CAM's own certificate (its key export audited)."""
    home, _ = service_home
    tmp = tmp_path / "serve-tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ccapki",
            "--home",
            str(home),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-jobs",
            "--tls-identity",
            "cam",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert first.startswith("serving on https://127.0.0.1:"), first
        assert second == "TLS: the identity cam\n"
        url = first.split()[2].rstrip("/")
        with httpx.Client(base_url=url, verify=_trust(home, tmp_path), timeout=60) as c:
            # the CAM's names, not 127.0.0.1: ask for it by name (SNI and verification)
            r = c.get("/api/v1/health", extensions={"sni_hostname": "cam.example.edu"})
            assert r.status_code == 200, r.text
            assert r.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert list(tmp.iterdir()) == []
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        exports = [e for e in store.audit.log(50) if e.action == "key-export"]
    assert [(e.subject, e.detail["format"]) for e in exports] == [("cam", "key")]
    assert "ccapki serve" in str(exports[0].detail["path"])


def test_serve_needs_the_passphrase_of_a_locked_store(cli: Cli, fast_scrypt: None) -> None:
    ok(cli("init", env={"CCAPKI_PASSPHRASE": "a good passphrase"}))
    r = error_with_hint(cli("serve", "--listen", "127.0.0.1:0"))
    assert "passphrase" in r.err
    r = error_with_hint(
        cli("serve", "--listen", "127.0.0.1:0", env={"CCAPKI_PASSPHRASE": "not the one!"})
    )
    assert "passphrase" in r.err


def test_users_commands_keep_names_unique_and_an_admin(
    cli: Cli, keyfile_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("users", "add", "ann", "--role", "admin", "--no-password"))
    r = error_with_hint(cli("users", "add", "ANN", "--role", "viewer", "--no-password"))  # taken
    assert "'ann'" in r.err
    # the last active admin: never demoted or disabled silently
    r = error_with_hint(cli("users", "set-role", "ann", "viewer"))
    assert "last active admin" in r.err
    r = error_with_hint(cli("users", "disable", "ann"))
    assert "last active admin" in r.err
    ok(cli("users", "add", "bo", "--role", "admin", "--no-password"))
    ok(cli("users", "set-role", "ann", "operator"))  # bo is left
    r = error_with_hint(cli("users", "disable", "bo"))
    assert "last active admin" in r.err
    ok(cli("users", "disable", "ann"))
    r = error_with_hint(cli("users", "token", "ann"))  # disabled: the hint says how to fix
    assert "ccapki users enable ann" in r.err
    assert "set-role" not in r.err
    with ccapki.open_store(keyfile_store) as store:
        assert [u.name for u in store.users.list()] == ["ann", "bo"]
        assert store.users.get("bo").active


def test_serve_checks_its_proxy_and_body_limit_options(cli: Cli, keyfile_store: Path) -> None:
    r = error_with_hint(cli("serve", "--no-tls", "--trusted-proxy", "my-proxy"))
    assert "--trusted-proxy 'my-proxy' is not an IP address" in r.err
    r = cli("serve", "--max-body", "0")
    assert r.code == 2, r.both
    help_text = ok(cli("serve", "--help")).out
    for option in ("--trusted-proxy", "--max-body", "--max-upload-body"):
        assert option in help_text
